/**
 * Finds the items a check refuses, by bisection: `accepts(subset)` says whether a config built
 * from that subset passes. Returns the culprits, or undefined when even the empty subset fails
 * (the fault is not in the items). About k·log2(n) checks for k culprits among n items.
 */
export async function isolate<T>(items: T[], accepts: (subset: T[]) => Promise<boolean>): Promise<T[] | undefined> {
  if (!(await accepts([]))) return undefined;
  const search = async (base: T[], candidates: T[]): Promise<T[]> => {
    if (candidates.length === 0 || (await accepts([...base, ...candidates]))) return [];
    if (candidates.length === 1) return candidates;
    const half = Math.ceil(candidates.length / 2);
    const left = candidates.slice(0, half);
    const right = candidates.slice(half);
    const inLeft = await search(base, left);
    const inRight = await search([...base, ...left.filter((x) => !inLeft.includes(x))], right);
    return [...inLeft, ...inRight];
  };
  return search([], items);
}
