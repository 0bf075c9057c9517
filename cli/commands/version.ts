import pkg from "../../package.json" with { type: "json" };

export const VERSION: string = pkg.version;

export function versionText(): string {
  return `mcpmon ${VERSION} (bun ${Bun.version}, ${process.platform}-${process.arch})`;
}
