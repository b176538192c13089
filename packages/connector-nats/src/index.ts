export { type NatsSubjectSinkOptions, toNatsSubject } from './nats-stream-sink.js';
export {
  NatsStreamSource,
  type NatsStreamSourceOptions,
  type NatsStreamSourceStats,
  natsStreamSource,
} from './nats-stream-source.js';
