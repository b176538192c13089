export { type NatsServer, startNatsServer } from './nats-server.js';
