export { AcknowledgementLedger, type AcknowledgementLedgerOptions } from './acknowledgement-ledger.js';
export { type CheckpointAcknowledgerOptions, checkpointAcknowledger } from './checkpoint-acknowledgement.js';
export {
  type BrokerKind,
  BrokerResourceMissingError,
  BrokerUnreachableError,
  MalformedEntryError,
  withTimeout,
} from './errors.js';
export { checkOptions, type OptionRule } from './options.js';
export type { EntryAcknowledger, SourceEntry } from './source-entry.js';
