/**
 * CSV with a header line and typed columns (RFC 4180 quoting: fields may be quoted, `""` is a
 * quote inside a quoted field). A quoted field may not span lines; such a file is rejected with
 * the line number.
 */
import { ConfigError } from '@millrace/core';

export type CsvColumnType = 'string' | 'number' | 'integer' | 'boolean';

/** The record type a column spec produces. */
export type CsvRecord<C extends Record<string, CsvColumnType>> = {
  [K in keyof C]: C[K] extends 'number' | 'integer' ? number : C[K] extends 'boolean' ? boolean : string;
};

export function parseCsvLine(line: string, lineNumber: number): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const close = line.indexOf('"', i);
        if (close === -1)
          throw new Error(
            `line ${lineNumber}: unterminated quoted field (multi-line fields are not supported)`,
          );
        value += line.slice(i, close);
        if (line[close + 1] === '"') {
          value += '"';
          i = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      fields.push(value);
      if (i >= line.length) return fields;
      if (line[i] !== ',') throw new Error(`line ${lineNumber}: unexpected character after a quoted field`);
      i += 1;
    } else {
      const comma = line.indexOf(',', i);
      if (comma === -1) {
        fields.push(line.slice(i));
        return fields;
      }
      fields.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

export function formatCsvLine(values: readonly unknown[]): string {
  return values
    .map((value) => {
      const text =
        value === undefined || value === null
          ? ''
          : typeof value === 'object'
            ? JSON.stringify(value)
            : String(value);
      return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    })
    .join(',');
}

/** Builds a function that turns a data line into a typed record, given the header line. */
export function csvRecordParser<C extends Record<string, CsvColumnType>>(
  header: string,
  columns: C,
  path: string,
): (line: string, lineNumber: number) => CsvRecord<C> {
  const names = parseCsvLine(header, 1).map((name) => name.trim());
  const plan = Object.entries(columns).map(([name, type]) => {
    const index = names.indexOf(name);
    if (index === -1) {
      throw new ConfigError(
        [
          {
            path: `columns.${name}`,
            message: `is not in the header of ${path} (header: ${names.join(', ')})`,
          },
        ],
        {
          subject: 'CSV source',
        },
      );
    }
    return { name, type, index };
  });
  return (line, lineNumber) => {
    const fields = parseCsvLine(line, lineNumber);
    const record: Record<string, unknown> = {};
    for (const { name, type, index } of plan) {
      const text = fields[index];
      if (text === undefined) throw new Error(`${path} line ${lineNumber}: no value for column '${name}'`);
      record[name] = convert(text, type, name, lineNumber, path);
    }
    return record as CsvRecord<C>;
  };
}

function convert(
  text: string,
  type: CsvColumnType,
  column: string,
  lineNumber: number,
  path: string,
): unknown {
  switch (type) {
    case 'string':
      return text;
    case 'number':
    case 'integer': {
      const value = text.trim() === '' ? Number.NaN : Number(text);
      if (Number.isNaN(value) || (type === 'integer' && !Number.isInteger(value))) {
        throw new Error(
          `${path} line ${lineNumber}, column '${column}': '${text}' is not ${type === 'integer' ? 'an integer' : 'a number'}`,
        );
      }
      return value;
    }
    case 'boolean': {
      const lower = text.trim().toLowerCase();
      if (lower === 'true' || lower === '1') return true;
      if (lower === 'false' || lower === '0') return false;
      throw new Error(
        `${path} line ${lineNumber}, column '${column}': '${text}' is not a boolean (true/false/1/0)`,
      );
    }
  }
}
