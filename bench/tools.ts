/**
 * The Debian tools the bench drives: installed with apt-get when missing and
 * the bench runs as root, otherwise a message that says how.
 */
import { execFileSync } from 'node:child_process';

interface Tool {
  command: string;
  debianPackage: string;
}

const TOOLS: Tool[] = [
  { command: 'wrk', debianPackage: 'wrk' },
  { command: 'nginx', debianPackage: 'nginx-light' },
  { command: 'taskset', debianPackage: 'util-linux' },
];
const ETCD: Tool = { command: 'etcd', debianPackage: 'etcd-server' };

export function ensureTools(): void {
  const wanted = [...TOOLS];
  // The test harness also takes TOLLGATE_TEST_ETCD or a Docker engine instead.
  if (!process.env.TOLLGATE_TEST_ETCD) {
    wanted.push(ETCD);
  }
  const missing = wanted.filter((tool) => !onPath(tool.command));
  if (missing.length === 0) {
    return;
  }

  const packages = missing.map((tool) => tool.debianPackage);
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the bench needs ${missing.map((t) => t.command).join(', ')}: ` +
        `sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}`,
    );
  }

  console.error(`bench: installing ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: 'inherit',
    env,
  });
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
