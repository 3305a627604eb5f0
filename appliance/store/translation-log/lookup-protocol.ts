import type { TranslationPage, TranslationQuery } from "../../translation-model.js";
import type { FieldProblem } from "../../errors.js";

/** What the lookup worker is started with. */
export interface LookupWorkerData {
  path: string;
  gateway: string;
  /** Tests only: the worker spins this long before each lookup, as a costly one would. */
  delayForTestsMs: number;
}

export interface LookupRequest {
  id: number;
  query: TranslationQuery;
}

/** The worker's first message once its connection is open ("failed" when it could not open it). */
export type LookupReady = { ready: true } | { ready: false; message: string };

/** An error crosses the thread as data; an AppError keeps its code and fields. */
export interface LookupFailure {
  code?: string;
  message: string;
  fields?: FieldProblem[];
}

export type LookupReply = { id: number; page: TranslationPage } | { id: number; error: LookupFailure };
