/** One GET; resolves with status and parsed JSON body (or null), never throws. */
export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    let body: any = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body, headers: res.headers };
  } catch (err) {
    return { status: 0, body: String(err), headers: new Headers() };
  }
}

/** `n` GETs in sequence; returns the `tag` of each answer (or `status:<code>`). */
export async function tags(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await get(url);
    out.push(r.status === 200 && r.body?.tag ? r.body.tag : `status:${r.status}`);
  }
  return out;
}
