import { BlockList, isIP } from "node:net";

/**
 * `api.allow_cidrs`: which client addresses may connect at all. Empty = everyone.
 * IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are checked as IPv4.
 */
export function createAllowList(cidrs: string[]): ((ip: string | undefined) => boolean) | null {
  if (cidrs.length === 0) return null;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bitsText] = cidr.trim().split("/");
    const family = isIP(addr ?? "");
    if (!addr || family === 0) throw new Error(`api.allow_cidrs: "${cidr}" is not an address or CIDR range`);
    const type = family === 6 ? "ipv6" : "ipv4";
    if (bitsText === undefined) list.addAddress(addr, type);
    else {
      const bits = Number(bitsText);
      if (!Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
        throw new Error(`api.allow_cidrs: "${cidr}" has an invalid prefix length`);
      }
      list.addSubnet(addr, bits, type);
    }
  }
  return (ip) => {
    if (!ip) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    const address = mapped ? mapped[1]! : ip;
    const family = isIP(address);
    if (family === 0) return false;
    return list.check(address, family === 6 ? "ipv6" : "ipv4");
  };
}
