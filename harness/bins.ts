import { execFileSync } from 'node:child_process';

/** Fails loudly, naming the Debian package, when a binary the tests need is missing. */
export function requireBinary(bin: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${bin} not found: install it with "apt-get install -y ${pkg}" (the tests need the real thing)`);
  }
}
