// A TypeScript job whose default export is a plain function: `millrace run` loads it through tsx.
interface Context {
  args: string[];
  log(message: string): void;
}

export default async function job({ args, log }: Context): Promise<void> {
  const words: string[] = args.map((arg) => arg.toUpperCase());
  log(`typescript job says ${words.join(' ')}`);
}
