// carehub: the little JavaScript the UI needs (live views over Server-Sent Events).
"use strict";
window.carehub = {
  // Subscribe to an SSE stream and call onEvent(data) for every message; reconnects itself.
  live(url, onEvent) {
    const source = new EventSource(url);
    source.onmessage = (e) => { try { onEvent(JSON.parse(e.data)); } catch (err) { console.error(err); } };
    return source;
  },
};
