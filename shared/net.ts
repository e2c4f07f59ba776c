/**
 * Address matching shared by both planes: allow-lists of CIDRs over
 * node:net's BlockList, with IPv4-mapped IPv6 addresses treated as IPv4.
 */
import { BlockList, isIPv4 } from 'node:net';

/** Builds a list from CIDRs already checked by `parseCidr` (`addr/bits`). */
export function buildAddressList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr = '', bits = ''] = cidr.split('/');
    list.addSubnet(addr, Number(bits), isIPv4(addr) ? 'ipv4' : 'ipv6');
  }
  return list;
}

/** Strips the IPv4-mapped form (`::ffff:127.0.0.1`) dual-stack sockets report. */
export function plainAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

export function inAddressList(list: BlockList, address: string): boolean {
  const plain = plainAddress(address);
  try {
    return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
  } catch {
    // Not an IP address at all (for example a forged X-Forwarded-For entry).
    return false;
  }
}
