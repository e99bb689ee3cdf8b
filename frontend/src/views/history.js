// The history panel of the document page: a slider over every version,
// the text at the version shown (read only), coloured by who wrote each
// stretch, with what changed since the previous stop marked; named
// versions; restore; export. It reads history a version at a time (the
// content, the blame, the one op) and the timeline in buckets, so a
// document with 100,000 versions opens as fast as one with ten.

import { api } from '../api.js';
import { isHigh } from '../../client/ot.js';
import { replacement } from '../diff.js';
import { h, relativeTime, replace } from '../dom.js';

const timelineBuckets = 120;
const playStopMs = 700; // a stop per bucket while playing
const settleMs = 120; // the slider settles this long before a fetch

/**
 * historyPanel builds the panel for document id. live is the open Doc of
 * the client package (its version is the head), canEdit whether the
 * person may save and restore, restore(text) makes the live text equal to
 * text as one undoable edit, close() leaves the panel.
 */
export function historyPanel(ctx, { id, title, live, canEdit, restore, close }) {
  let head = live.version ?? 0;
  let shown = null; // {version, text, blame} on screen
  let want = head; // the version asked for
  let timeline = [];
  let playing = null;
  let settle = null;
  let seq = 0; // the newest request; older answers are dropped
  const people = new Map(); // user id → {name, color}

  const slider = h('input.history-slider', {
    type: 'range', min: '0', max: String(head), value: String(head), step: '1',
    'aria-label': 'Version',
    oninput: () => goto(Number(slider.value), true),
  });
  const strip = h('div.timeline', { 'aria-hidden': 'true' });
  const label = h('span.history-version', { role: 'status', 'aria-live': 'polite' });
  const who = h('span.history-who.muted');
  const stepBack = h('button.ghost', { type: 'button', title: 'Previous version', 'aria-label': 'Previous version', onclick: () => goto(want - 1) }, '◀');
  const stepOn = h('button.ghost', { type: 'button', title: 'Next version', 'aria-label': 'Next version', onclick: () => goto(want + 1) }, '▶');
  const play = h('button.secondary.history-play', { type: 'button', onclick: () => (playing ? stop() : start()) }, 'Play');
  const text = h('pre.history-text', { 'aria-label': 'Text at this version', tabindex: '0' });
  const legend = h('ul.history-legend', { 'aria-label': 'Authors' });
  const saved = h('ul.history-saved', { 'aria-label': 'Named versions' });
  const savedError = h('p.error', { role: 'alert', hidden: true });
  const nameInput = h('input', { type: 'text', name: 'name', maxlength: '200', placeholder: 'Name this version', 'aria-label': 'Version name', required: true });
  const saveForm = canEdit && h('form.history-save', { onsubmit: (e) => { e.preventDefault(); saveVersion(); } },
    nameInput, h('button.secondary', { type: 'submit' }, 'Save version'));
  const restoreBtn = canEdit && h('button.primary.history-restore', { type: 'button', onclick: () => doRestore() }, 'Restore this version');
  const txt = h('a.button.secondary.history-export-txt', { download: '' }, 'Download .txt');
  const md = h('a.button.secondary.history-export-md', { download: '' }, 'Download .md');

  const el = h('section.history', { 'aria-label': 'History', 'data-state': 'loading' },
    h('div.history-head', {},
      h('h2', {}, 'History'),
      h('button.ghost.close', { type: 'button', 'aria-label': 'Close history', title: 'Close (Esc)', onclick: () => close() }, '×')),
    h('div.history-controls', {}, stepBack, slider, stepOn, play),
    strip,
    h('div.history-info', {}, label, ' ', who),
    h('div.history-body', {},
      text,
      h('aside.history-side', {},
        h('h3', {}, 'Authors'), legend,
        h('h3', {}, 'Named versions'), saveForm, savedError, saved,
        h('div.history-actions', {}, restoreBtn, txt, md))));
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  });

  const offLive = live.on('change', () => {
    const v = live.version ?? head;
    if (v <= head) return;
    const following = want === head;
    head = v;
    slider.max = String(head);
    if (following && !playing) goto(head);
    refreshTimeline();
  });

  function person(id) {
    if (id === null) return { name: '', color: 'transparent' }; // blame still coming
    return people.get(id) ?? { name: 'Unknown', color: '#8c959f' };
  }
  function learn(authors) {
    for (const a of authors ?? []) people.set(a.id, { name: a.name || 'Unknown', color: a.color });
  }

  /** goto shows version v (clamped); from the slider it waits to settle. */
  function goto(v, fromSlider = false) {
    want = Math.max(0, Math.min(head, Math.round(v)));
    if (!fromSlider) slider.value = String(want);
    label.textContent = `Version ${want} of ${head}`;
    clearTimeout(settle);
    settle = setTimeout(() => load(want), fromSlider ? settleMs : 0);
  }

  async function load(v) {
    const mine = ++seq;
    el.dataset.state = 'loading';
    // The text first; who wrote it when the blame comes (the first blame
    // of a long history builds its checkpoints, which may take seconds).
    const blame = api.blame(id, v);
    blame.catch(() => {}); // reported below, if still wanted
    try {
      const [content, op] = await Promise.all([
        api.contentAt(id, v),
        v > 0 ? api.opsBetween(id, v, v) : Promise.resolve(null),
      ]);
      if (mine !== seq || !el.isConnected) return;
      const before = shown;
      shown = { version: v, text: content.content, spans: null, before };
      render(before);
      const rec = op?.ops?.[0];
      if (rec) {
        const p = person(rec.user);
        replace(who, 'by ', h('strong', { style: `color: ${p.color}` }, p.name), ` · ${relativeTime(rec.time)}`);
        who.title = new Date(rec.time).toLocaleString();
      } else {
        replace(who, v === 0 ? 'the text the document was created with' : '');
        who.removeAttribute('title');
      }
      exportLinks(v);
      if (restoreBtn) restoreBtn.disabled = v === head;
      el.dataset.state = 'text';
      el.dataset.version = String(v);
      const b = await blame;
      if (mine !== seq || !el.isConnected) return;
      learn(b.authors);
      if (rec) {
        const p = person(rec.user);
        replace(who, 'by ', h('strong', { style: `color: ${p.color}` }, p.name), ` · ${relativeTime(rec.time)}`);
      }
      shown.spans = b.spans;
      render(shown.before);
      el.dataset.state = 'ready';
    } catch (err) {
      if (mine !== seq) return;
      el.dataset.state = 'error';
      ctx.failed(err);
    }
  }

  /** render puts shown's text on screen, marking the change from before. */
  function render(before) {
    const t = shown.text;
    // The change since the previous stop: the stretch between the two
    // texts' common prefix and suffix, [from, to) in this text.
    const c = before && before.version !== shown.version ? replacement(before.text, t) : null;
    const from = c ? c.from : t.length;
    const to = c ? c.from + c.insert.length : t.length;
    const removed = c ? before.text.slice(c.from, c.to) : '';
    const nodes = [];
    let pos = 0; // UTF-16
    const piece = (end, user) => {
      const p = person(user);
      while (pos < end) {
        // Cut at the changed stretch's edges so that it can be marked.
        const stop = Math.min(end, pos < from ? from : pos < to ? to : end);
        if (pos === from && removed) nodes.push(h('del.hist-removed', { title: 'Removed here' }, removed));
        const changed = pos >= from && pos < to;
        nodes.push(h(changed ? 'mark.hist-changed' : 'span.hist-run', { style: `--author: ${p.color}`, title: p.name, 'data-user': user }, t.slice(pos, stop)));
        pos = stop;
      }
    };
    for (const s of shown.spans ?? []) piece(utf16After(t, pos, s.length), s.user);
    if (pos < t.length) piece(t.length, null); // authors not known yet
    if (removed && from >= t.length) nodes.push(h('del.hist-removed', { title: 'Removed here' }, removed));
    replace(text, nodes.length ? nodes : h('span.muted', {}, 'Empty at this version.'));
    const users = [...new Set((shown.spans ?? []).map((s) => s.user))];
    replace(legend, users.map((u) => {
      const p = person(u);
      return h('li', { 'data-user': u }, h('span.swatch', { style: `background-color: ${p.color}` }), p.name);
    }));
    text.querySelector('mark, del')?.scrollIntoView({ block: 'nearest' });
  }

  function exportLinks(v) {
    const base = `/api/docs/${encodeURIComponent(id)}/export?version=${v}`;
    txt.href = `${base}&format=txt`;
    md.href = `${base}&format=md`;
  }

  function start() {
    if (want >= head) goto(0);
    play.textContent = 'Pause';
    const next = () => {
      const after = timeline.find((b) => b.to > want);
      if (!after) {
        stop();
        return;
      }
      goto(after.to);
      playing = setTimeout(next, playStopMs);
    };
    playing = setTimeout(next, playStopMs);
  }
  function stop() {
    clearTimeout(playing);
    playing = null;
    play.textContent = 'Play';
  }

  let timelineDue = null;
  async function refreshTimeline() {
    if (timelineDue) return;
    timelineDue = setTimeout(async () => {
      timelineDue = null;
      try {
        const t = await api.timeline(id, timelineBuckets);
        if (!el.isConnected) return;
        timeline = t.buckets;
        for (const b of timeline) learn(b.authors);
        replace(strip, timeline.map((b) => {
          const first = b.authors[0];
          const names = b.authors.map((a) => a.name || 'Unknown').join(', ');
          return h('button.bucket', {
            type: 'button', tabindex: '-1',
            style: `flex-grow: ${b.to - b.from + 1}; background-color: ${first?.color ?? '#d0d7de'}`,
            title: `Versions ${b.from}–${b.to} · ${names} · ${new Date(b.start).toLocaleString()}`,
            onclick: () => goto(b.to),
          });
        }));
      } catch (err) {
        ctx.failed(err);
      }
    }, timeline.length ? 2000 : 0);
  }

  async function loadSaved() {
    try {
      const { versions } = await api.versions(id);
      if (!el.isConnected) return;
      replace(saved, versions.length ? versions.map(savedRow) : h('li.muted', {}, 'None yet.'));
    } catch (err) {
      savedError.textContent = err.message;
      savedError.hidden = false;
    }
  }
  function savedRow(sv) {
    return h('li', { 'data-version': String(sv.version), 'data-id': sv.id },
      h('button.link', { type: 'button', onclick: () => goto(sv.version) }, sv.name),
      h('span.muted', { title: new Date(sv.created_at).toLocaleString() }, ` v${sv.version} · ${sv.user?.name ?? ''} · ${relativeTime(sv.created_at)}`),
      canEdit && h('button.ghost.remove', {
        type: 'button', 'aria-label': `Delete “${sv.name}”`, title: 'Delete this name',
        async onclick() {
          try {
            await api.deleteVersion(id, sv.id);
            loadSaved();
          } catch (err) {
            savedError.textContent = err.message;
            savedError.hidden = false;
          }
        },
      }, '×'));
  }
  async function saveVersion() {
    savedError.hidden = true;
    const name = nameInput.value.trim();
    if (!name) return;
    try {
      await api.saveVersion(id, name, want);
      nameInput.value = '';
      ctx.toast(`Saved version ${want} as “${name}”.`);
      loadSaved();
    } catch (err) {
      savedError.textContent = err.message;
      savedError.hidden = false;
    }
  }

  function doRestore() {
    if (!shown || shown.version !== want) return;
    if (!restore(shown.text)) return;
    ctx.toast(`Restored version ${shown.version} of “${title()}”. Undo (Ctrl+Z) takes it back.`);
    close();
  }

  goto(head);
  refreshTimeline();
  loadSaved();
  slider.focus();

  return {
    el,
    destroy() {
      stop();
      clearTimeout(settle);
      clearTimeout(timelineDue);
      offLive();
      seq++;
    },
    /** shown is the version on screen and its text, for the tests. */
    shown: () => (shown ? { version: shown.version, text: shown.text } : null),
    goto,
  };
}

/** utf16After is the UTF-16 offset n code points after offset pos of s. */
function utf16After(s, pos, n) {
  while (n-- > 0 && pos < s.length) pos += isHigh(s.charCodeAt(pos)) && pos + 1 < s.length ? 2 : 1;
  return pos;
}
