// Helpers for the stream tests: run bytes through a TransformStream and collect what it released.
export async function runThrough(
  transform: TransformStream<Uint8Array, Uint8Array>,
  input: Uint8Array,
  piece = 7919,
): Promise<{ out: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < input.length; i += piece) c.enqueue(input.subarray(i, i + piece));
      c.close();
    },
  });
  let error: unknown;
  try {
    await source.pipeThrough(transform).pipeTo(
      new WritableStream({
        write(chunk) {
          chunks.push(Buffer.from(chunk));
        },
      }),
    );
  } catch (e) {
    error = e;
  }
  return { out: Buffer.concat(chunks), error };
}
