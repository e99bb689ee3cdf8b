// A minimal event emitter for the package's objects: on returns a function
// that removes the listener, and a listener that throws is logged without
// keeping the others from their call.

export class Emitter {
  #listeners = new Map(); // event -> Set of functions

  /** on calls fn with each event's value; it returns a function that stops it. */
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  /** off removes a listener added with on. */
  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
  }

  /** emit calls every listener of event with value, in the order they were added. */
  emit(event, value) {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(value);
      } catch (err) {
        console.error(`tandem: a '${event}' listener failed`, err);
      }
    }
  }
}
