export { checkExamples, type ExampleProblem, matchPattern, referenceMatch } from "./check.ts";
export {
  type CompiledDetect,
  type DetectOverride,
  unmatchedPattern,
  unmatchedVerdict,
  type Verdict,
} from "./detect.ts";
export { type Stripped, stripHeader } from "./header.ts";
export {
  type CompiledPattern,
  findPatternsDir,
  loadPatternsDir,
  loadPatternsFile,
  type MultilineRule,
  namedGroups,
  parsePatternsText,
  type ServicePatterns,
} from "./load.ts";
export * from "./schema.ts";
