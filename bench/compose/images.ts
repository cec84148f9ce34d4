// Image sizes as `docker image ls` shows them (decimal MB).
import { docker, image } from '../../harness/compose.js';

export async function imageSizes(): Promise<Record<string, { image: string; mb: number; created?: string }>> {
  const out: Record<string, { image: string; mb: number; created?: string }> = {};
  for (const name of ['etcd', 'ha', 'webapp'] as const) {
    const ref = image(name);
    const info = await docker.getImage(ref).inspect();
    out[name] = { image: ref, mb: Math.round(info.Size / 1e5) / 10, created: info.Created };
  }
  return out;
}
