#!/usr/bin/env node
// The README's Next.js example compiles against the packed package: `npm pack`, the tarball unpacked into a
// scratch project's node_modules (with this package's react, @types/react and typescript linked in, and a minimal
// declaration of @clerk/nextjs: the two functions the example calls, as Clerk types them), the README's code
// blocks that start with a `// app/…` path written to those paths, then `tsc --noEmit`. No network.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const scratch = mkdtempSync(join(tmpdir(), "entitle-example-"));
const run = (cmd, args, cwd) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    throw new Error(`${cmd} ${args.join(" ")} failed`);
  }
  return r.stdout;
};

let status = 0;
try {
  // The package as it would be published.
  run("npm", ["pack", "--silent", "--pack-destination", scratch], here);
  const tarball = readdirSync(scratch).find((f) => f.endsWith(".tgz"));
  const installed = join(scratch, "node_modules/@entitle/client");
  mkdirSync(installed, { recursive: true });
  run("tar", ["-xzf", join(scratch, tarball), "-C", installed, "--strip-components=1"], scratch);

  for (const dep of ["react", "@types/react", "csstype"]) {
    mkdirSync(dirname(join(scratch, "node_modules", dep)), { recursive: true });
    symlinkSync(join(here, "node_modules", dep), join(scratch, "node_modules", dep), "dir");
  }
  const clerk = join(scratch, "node_modules/@clerk/nextjs");
  mkdirSync(clerk, { recursive: true });
  writeFileSync(
    join(clerk, "package.json"),
    JSON.stringify({ name: "@clerk/nextjs", exports: { ".": { types: "./index.d.ts" }, "./server": { types: "./server.d.ts" } } }),
  );
  writeFileSync(
    join(clerk, "index.d.ts"),
    "export declare function useAuth(): {\n" +
      "  userId: string | null | undefined;\n" +
      "  orgId: string | null | undefined;\n" +
      "  sessionClaims: Record<string, unknown> | null | undefined;\n" +
      "  getToken(options?: { template?: string; skipCache?: boolean }): Promise<string | null>;\n" +
      "};\n",
  );
  writeFileSync(
    join(clerk, "server.d.ts"),
    "export declare function auth(): Promise<{ userId: string | null; orgId: string | null | undefined }>;\n",
  );
  writeFileSync(join(scratch, "env.d.ts"), "declare const process: { env: Record<string, string | undefined> };\n");

  // The README's blocks that name a file of a Next.js app.
  const readme = readFileSync(join(here, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```tsx?\n(\/\/ (app\/[^\n]+)\n[\s\S]*?)```/g)];
  if (blocks.length < 2) throw new Error(`the README has ${blocks.length} Next.js blocks (\`// app/…\` first), not 2`);
  for (const [, code, path] of blocks) {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), code);
  }
  writeFileSync(
    join(scratch, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022", "DOM", "DOM.Iterable"],
        module: "ESNext",
        moduleResolution: "bundler",
        jsx: "react-jsx",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
      },
      include: ["app", "env.d.ts"],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", scratch], {
    encoding: "utf8",
  });
  if (tsc.status !== 0) {
    console.error(tsc.stdout, tsc.stderr);
    console.error("check-example: the README's example does not compile against the packed package");
    status = 1;
  } else {
    console.log(`check-example: ${blocks.map((b) => b[2]).join(", ")} compile against ${tarball}`);
  }
} catch (e) {
  console.error(`check-example: ${e.message}`);
  status = 1;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(status);
