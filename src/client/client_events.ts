/**
 * The client's events on a standard `EventTarget`, typed: listeners of
 * `state`, `gap`, `presence` and the others get a `CustomEvent` whose
 * `detail` has the event's type.
 *
 * @module
 */

import type { PushClientEventMap } from "./options.ts";

/**
 * An `EventTarget` whose `addEventListener` and `removeEventListener` know
 * the events of a {@linkcode PushClient}.
 */
export class PushClientEventTarget extends EventTarget {
  /**
   * Listens for one of the client's events.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options The usual listener options.
   */
  override addEventListener<K extends keyof PushClientEventMap>(
    type: K,
    listener: (event: PushClientEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Listens for an event.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options The usual listener options.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Stops listening for one of the client's events.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options The usual listener options.
   */
  override removeEventListener<K extends keyof PushClientEventMap>(
    type: K,
    listener: (event: PushClientEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Stops listening for an event.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options The usual listener options.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }
}

/** An event's detail, by type. */
export type EventDetail<K extends keyof PushClientEventMap> = PushClientEventMap[K]["detail"];

/**
 * Dispatches one of the client's events.
 *
 * @param target The client.
 * @param type The event type.
 * @param detail Its detail.
 */
export function emit<K extends keyof PushClientEventMap>(
  target: EventTarget,
  type: K,
  detail: EventDetail<K>,
): void {
  target.dispatchEvent(new CustomEvent(type, { detail }));
}
