/**
 * Process checks for tests that must prove no child outlived them (Linux /proc): a test tags its
 * processes with a marker argument, or looks at the children of a pid, before and after.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of live processes whose command line contains `marker` (Linux /proc). */
export function processesWithMarker(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (commandLine.includes(marker) && state !== 'Z') found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Pids of the live children of `parentPid` (default: this process), from Linux /proc. */
export function childProcessesOf(parentPid: number = process.pid): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the name (field 2) may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parentPid && fields[0] !== 'Z') children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

/** A process as /proc describes it: enough to tell it from a later process with the same pid. */
export interface ProcessEntry {
  pid: number;
  parentPid: number;
  /** Clock ticks after boot at which it started (field 22 of /proc/<pid>/stat). */
  startTime: number;
}

/** Live (not zombie) processes by pid, from one scan of Linux /proc. */
export function processTable(): Map<number, ProcessEntry> {
  const table = new Map<number, ProcessEntry>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the name (which may hold spaces and parentheses): state is field 3.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      table.set(Number(entry), {
        pid: Number(entry),
        parentPid: Number(fields[1]),
        startTime: Number(fields[19]),
      });
    } catch {
      // The process ended while we looked.
    }
  }
  return table;
}

/**
 * The live descendants of `rootPid` (children, their children …), from one scan of /proc. A
 * process whose parent died was re-parented (to pid 1 or a subreaper) and is no longer found here:
 * a caller that must account for every process samples the tree while it runs.
 */
export function descendantsOf(rootPid: number): ProcessEntry[] {
  const table = processTable();
  const children = new Map<number, ProcessEntry[]>();
  for (const entry of table.values()) {
    const list = children.get(entry.parentPid) ?? [];
    list.push(entry);
    children.set(entry.parentPid, list);
  }
  const found: ProcessEntry[] = [];
  const stack = [rootPid];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop()!) ?? []) {
      found.push(child);
      stack.push(child.pid);
    }
  }
  return found;
}
