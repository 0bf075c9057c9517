export { checkExamples, type ExampleProblem, referenceMatch } from "./check.ts";
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
