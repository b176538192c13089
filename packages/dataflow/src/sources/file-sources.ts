/** Sources that read files: lines, JSON lines and CSV. Reading streams, so files of any size fit. */
import { createReadStream } from 'node:fs';
import { type CsvColumnType, type CsvRecord, csvRecordParser } from './csv.js';

/** The lines of a UTF-8 text file, without line terminators (`\n` or `\r\n`). */
export async function* readLines(path: string): AsyncGenerator<string> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 });
  let carry = '';
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const text = carry + chunk;
      let start = 0;
      for (;;) {
        const newline = text.indexOf('\n', start);
        if (newline === -1) break;
        const end = newline > start && text.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
        yield text.slice(start, end);
        start = newline + 1;
      }
      carry = text.slice(start);
    }
    if (carry.length > 0) yield carry.endsWith('\r') ? carry.slice(0, -1) : carry;
  } finally {
    stream.destroy();
  }
}

/** One parsed JSON value per non-empty line; a bad line fails with its line number. */
export async function* readJsonLines<T>(path: string): AsyncGenerator<T> {
  let lineNumber = 0;
  for await (const line of readLines(path)) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as T;
    } catch (error) {
      throw new Error(`${path} line ${lineNumber}: invalid JSON (${(error as Error).message})`);
    }
  }
}

export async function* readCsv<C extends Record<string, CsvColumnType>>(
  path: string,
  columns: C,
): AsyncGenerator<CsvRecord<C>> {
  let parse: ((line: string, lineNumber: number) => CsvRecord<C>) | undefined;
  let lineNumber = 0;
  for await (const line of readLines(path)) {
    lineNumber += 1;
    if (parse === undefined) {
      parse = csvRecordParser(line, columns, path);
      continue;
    }
    if (line === '') continue;
    yield parse(line, lineNumber);
  }
}
