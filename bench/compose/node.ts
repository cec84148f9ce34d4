// One webapp container as the benchmark handles it: its Docker handle, node id and address.
import type Docker from 'dockerode';
import { type ComposeStack, docker } from '../../harness/compose.js';
import { waitFor } from '../../harness/wait.js';

export interface Node {
  id: string;
  container: Docker.Container;
  hostname: string;
  /** `ip:3000`, where HAProxy reaches it. */
  addr: string;
}

export async function nodeOf(stack: ComposeStack, id: string, fresh = false): Promise<Node> {
  return { id, container: docker.getContainer(id), ...(await stack.webapp(id, fresh)) };
}

/** The slot in rotation that holds `addr`. */
export function slotOf(stack: ComposeStack, addr: string, timeoutMs = 15000): Promise<string> {
  return waitFor(() => stack.slotOf(addr), `a slot in rotation for ${addr}`, timeoutMs, 20);
}
