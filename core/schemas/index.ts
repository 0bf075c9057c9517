export * from "./actions.ts";
export * from "./client.ts";
export * from "./codec.ts";
export * from "./common.ts";
export * from "./error-event.ts";
export * from "./event.ts";
export * from "./fix.ts";
export * from "./incident.ts";
