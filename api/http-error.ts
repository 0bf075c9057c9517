/** An HTTP answer other than 2xx, thrown from hooks and handlers and shaped by `errorBody`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems?: Array<{ path: string; message: string }>,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface ErrorBody {
  error: string;
  message: string;
  problems?: Array<{ path: string; message: string }>;
}

export function errorBody(code: string, message: string, problems?: ErrorBody["problems"]): ErrorBody {
  return problems?.length ? { error: code, message, problems } : { error: code, message };
}
