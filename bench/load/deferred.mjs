/**
 * `Promise.withResolvers()` for Node 20, which lacks it.
 *
 * @module
 */

/** A promise with its resolve and reject functions. */
export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}
