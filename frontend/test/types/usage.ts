// Compiled (never run) by types.test.js against the package's declarations:
// the README's examples and every public name, typed strictly.
import { connect, indexedDBStorage, TandemError, type PendingStorage, type ChangeEvent, type Doc, type DocStatus, type Presence, type Session } from '../../client/index.js';
import { remote, remoteDecorations, tandemCollab, wholeCodePoints } from '../../client/codemirror.js';
import { EditorState, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';

const session: Session = connect({ url: 'https://tandem.example', token: async () => 'jwt' });
connect({ ticket: async () => 'ticket' });
connect({ token: 'jwt', WebSocket, fetch });
connect({ persist: true });
const mem = new Map<string, unknown>();
const storage: PendingStorage = {
  get: async (key) => mem.get(key),
  put: async (key, record) => void mem.set(key, record),
  delete: async (key) => void mem.delete(key),
};
connect({ persist: { user: 'u1', storage, locks: navigator.locks } });
connect({ persist: { storage: indexedDBStorage({ name: 'my-app' }) } });
const offStatus: () => void = session.on('status', (s) => {
  const online: boolean = s === 'online' || s === 'signed-out';
  void online;
});
offStatus();
const doc: Doc = session.open('doc-id', { idPrefix: 'me' });
doc.on('change', ({ changes, text, remote: isRemote, reset }: ChangeEvent) => {
  for (const c of changes) void (c.from + c.to + c.insert.length);
  void [text.length, isRemote, reset];
});
doc.on('presence', (list: Presence[]) => {
  for (const p of list) void [p.session, p.user.name, p.user.color, p.selection?.[0]?.anchor];
});
doc.on('status', (s: DocStatus) => void s);
doc.on('role', (r) => void (r === 'viewer'));
doc.on('notice', ({ kind, message, text }) => void [kind === 'lost', message, text]);
const taken: boolean = doc.applyLocal([{ from: 0, to: 1, insert: 'x' }, { from: 3 }]);
doc.setSelection([{ anchor: 1, head: 2 }]);
doc.setSelection(null);
const v: number | null = doc.version;
void [taken, v, doc.text, doc.role, doc.loaded, doc.pending, doc.editable, doc.stored, doc.state, doc.status, doc.presence, session.user?.id, session.id];
doc.close();
session.close();

const ext: Extension = tandemCollab(doc, { resetState: (text) => EditorState.create({ doc: text }), lock: false });
const view = new EditorView({ state: EditorState.create({ doc: doc.text, extensions: [ext, wholeCodePoints] }) });
view.state.update({ annotations: remote.of(true) });
doc.applyLocal(view.state.changes([{ from: 0, insert: 'y' }]));
remoteDecorations(doc.presence, view.state.doc.length);

const err = new TandemError(404, 'not_found', 'no such document');
void [err.status, err.code, err.message];
