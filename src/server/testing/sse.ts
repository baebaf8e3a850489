/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
  /** When it arrived (performance.now()). */
  at: number;
}

/**
 * Open a server-sent events stream and read it event by event: `next()` resolves with the next
 * event (undefined when the stream ends); `close()` stops reading.
 */
export async function openEvents(url: string, headers: Record<string, string> = {}): Promise<{ status: number; next(): Promise<SseEvent | undefined>; close(): Promise<void> }> {
  const res = await fetch(url, { headers });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  return {
    status: res.status,
    async next() {
      for (;;) {
        const k = buf.indexOf('\n\n');
        if (k >= 0) {
          const block = buf.slice(0, k).split('\n');
          buf = buf.slice(k + 2);
          const event = block.find((l) => l.startsWith('event:'))?.slice(6).trim() ?? 'message';
          const data = block.find((l) => l.startsWith('data:'))?.slice(5).trim() ?? '{}';
          return { event, data: JSON.parse(data) as Record<string, unknown>, at: performance.now() };
        }
        const { value, done } = await reader.read();
        if (done) return undefined;
        buf += value;
      }
    },
    async close() {
      await reader.cancel().catch(() => {});
    },
  };
}
