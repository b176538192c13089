export { redactUrl } from './connect.js';
export { type RedisStreamSinkOptions, toRedisStream } from './redis-stream-sink.js';
export {
  RedisStreamSource,
  type RedisStreamSourceOptions,
  type RedisStreamSourceStats,
  redisStreamSource,
} from './redis-stream-source.js';
