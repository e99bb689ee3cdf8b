// Type declarations for @tandem/client (hand-written; keep in step with
// index.js, session.js, doc.js and rest.js).

/** Who a connection belongs to, as the server's `hello` and presence say. */
export interface User {
  id: string;
  name: string;
  /** `#rrggbb`, stable per user. */
  color: string;
}

/** A selection range. In the Doc API positions are UTF-16 offsets into `doc.text`. */
export interface Range {
  anchor: number;
  head: number;
}

/** One change: replace `from..to` (UTF-16 offsets into the text before the edit) with `insert`. */
export interface ChangeSpec {
  from: number;
  /** Defaults to `from` (a pure insert). */
  to?: number;
  /** Defaults to `""` (a pure delete). */
  insert?: string;
}

/** A change as the package reports it: every field present. */
export interface Change {
  from: number;
  to: number;
  insert: string;
}

/** Anything with CodeMirror's `ChangeSet.iterChanges`. */
export interface ChangeSetLike {
  iterChanges(f: (fromA: number, toA: number, fromB: number, toB: number, inserted: { toString(): string }) => void, individual?: boolean): void;
}

export interface ChangeEvent {
  /** Sorted, non-overlapping, all relative to the text before the change. */
  changes: Change[];
  /** The text after the change. */
  text: string;
  /** false for edits made through applyLocal (on this Doc). */
  remote: boolean;
  /** true when the whole text was replaced: first load, or a reload. */
  reset?: boolean;
}

export interface Presence {
  /** The other connection's id. */
  session: string;
  user: User;
  /** null: no selection (yet). */
  selection: Range[] | null;
}

export interface Notice {
  /**
   * `lost`: edits that could not be saved; `text` is the person's version,
   * to hand back to them. `gone`: the document was deleted or is no longer
   * shared. `error`: anything else worth telling.
   */
  kind: 'lost' | 'gone' | 'error';
  message: string;
  text?: string;
}

export type SessionStatus = 'connecting' | 'online' | 'offline' | 'signed-out' | 'closed';
export type DocStatus = 'joining' | 'saving' | 'saved' | 'offline' | 'gone' | 'closed';
export type Role = 'owner' | 'editor' | 'viewer';
export type ProtocolState = 'synchronized' | 'awaiting' | 'awaiting-with-buffer';

/** The server's `hello`. */
export interface Hello {
  type: 'hello';
  session: string;
  user: User;
}

export interface ConnectOptions {
  /** The server's address, `http:` or `https:` (default: the page's origin). */
  url?: string;
  /**
   * A bearer token (the host app's JWT, or a Tandem API token), or a
   * function returning one, called before each use. REST calls send it as
   * `Authorization: Bearer`, and before each (re)connect it is traded for a
   * single-use socket ticket (`POST /api/socket-tickets`).
   */
  token?: string | (() => string | Promise<string>);
  /**
   * Returns a fresh single-use socket ticket before each (re)connect, for a
   * host app that gets tickets from its own server. A rejection whose
   * `status` is 401 or 403 ends the session ('signed-out').
   */
  ticket?: () => Promise<string>;
  /** The WebSocket class (default: the global one; pass one on Node 20). */
  WebSocket?: { new (url: string, protocols?: string | string[]): WebSocket };
  /** The fetch function (default: the global one). */
  fetch?: typeof fetch;
  /**
   * Keep pending edits on this device so that they survive a reload, a
   * crash or a browser restart, and are sent (exactly once) when the
   * document is opened again. `true`: IndexedDB and the Web Locks API,
   * the user learnt from the server's hello. Off when the browser lacks
   * either (a warning is logged).
   */
  persist?: boolean | PersistOptions;
}

export interface PersistOptions {
  /**
   * The signed-in user's id, when the page knows it: kept edits are stored
   * per server, user and document, and with the id they are restored (and
   * shown) before the socket connects. Without it, after the hello.
   */
  user?: string;
  /** Where records go (default: `indexedDBStorage()`). */
  storage?: PendingStorage;
  /** The lock manager (default: `navigator.locks`). */
  locks?: LockManagerLike;
}

/**
 * A key-value store for kept edits; each promise resolves once the change
 * is durable. Records are structured-cloneable objects.
 */
export interface PendingStorage {
  get(key: string): Promise<unknown>;
  put(key: string, record: object): Promise<void>;
  delete(key: string): Promise<void>;
}

/** The part of the Web Locks API (`navigator.locks`) the package uses. */
export interface LockManagerLike {
  request(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: unknown) => unknown): Promise<unknown>;
}

/** The IndexedDB storage for `persist`: database `name` (default `'tandem'`), object store `pending`. */
export function indexedDBStorage(opts?: { name?: string; indexedDB?: IDBFactory }): PendingStorage;

export interface OpenOptions {
  /** Prefix of this client's op ids (default: 12 random characters). */
  idPrefix?: string;
}

/** A failed REST call. */
export class TandemError extends Error {
  constructor(status: number, code: string, message: string);
  /** The HTTP status, 0 when the server could not be reached. */
  status: number;
  /** The server's error code (`not_found`, `rate_limited`, …) or `network`. */
  code: string;
}

type Off = () => void;

/** One connection to a Tandem server, shared by the documents opened through it. */
export class Session {
  private constructor();
  readonly status: SessionStatus;
  /** Who the server says I am; null while not online. */
  readonly user: User | null;
  /** This socket's id (as others see it in presence); null while not online. */
  readonly id: string | null;
  /** Joins a document (at most once per session) and returns it. */
  open(id: string, opts?: OpenOptions): Doc;
  /** Leaves every document and closes the socket for good. */
  close(): void;
  on(event: 'status', fn: (status: SessionStatus) => void): Off;
  on(event: 'hello', fn: (hello: Hello) => void): Off;
  off(event: string, fn: (value: any) => void): void;
}

/** One open document. */
export class Doc {
  private constructor();
  readonly id: string;
  /** The local text: the server's with my pending edits applied. */
  readonly text: string;
  /** The last server version seen; null before the first load. */
  readonly version: number | null;
  readonly role: Role | null;
  /** The text is a version of the server's (false until the first load). */
  readonly loaded: boolean;
  /** Local edits are not acknowledged yet. */
  readonly pending: boolean;
  /** applyLocal takes edits now (offline included). */
  readonly editable: boolean;
  /**
   * With `persist`: this device's storage holds every pending edit (true
   * also when nothing is pending), so a reload would not lose them. False
   * without `persist`, and in a tab that waits for another tab of this
   * document to close (that tab keeps its edits; this one's are in memory).
   */
  readonly stored: boolean;
  readonly state: ProtocolState;
  readonly status: DocStatus;
  /** The other connections here, selections in UTF-16 offsets of `text`. */
  readonly presence: Presence[];
  /**
   * Records the person's edit (already shown in their editor). Changes that
   * split a surrogate pair are widened to the whole character; lone
   * surrogates, U+0000 and `\r` are cleaned from inserts. Returns false,
   * changing nothing, when the document is not editable. Throws RangeError
   * for positions outside the text or overlapping changes.
   */
  applyLocal(changes: ChangeSpec[] | ChangeSetLike): boolean;
  /** Shares my selection (UTF-16 offsets of `text`), or null for none. */
  setSelection(ranges: Array<{ anchor: number; head?: number }> | null): void;
  /** Leaves the document. */
  close(): void;
  on(event: 'change', fn: (e: ChangeEvent) => void): Off;
  on(event: 'presence', fn: (list: Presence[]) => void): Off;
  /** Called when `status`, `state` or `stored` changes. */
  on(event: 'status', fn: (status: DocStatus) => void): Off;
  on(event: 'role', fn: (role: Role | null) => void): Off;
  on(event: 'notice', fn: (notice: Notice) => void): Off;
  off(event: string, fn: (value: any) => void): void;
}

/** Opens a session with a Tandem server. */
export function connect(opts?: ConnectOptions): Session;
