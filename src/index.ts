/**
 * ragar: personalized image generation guided by recommendation (RAGAR), as a library.
 *
 * ```ts
 * import { createRagar } from 'ragar';
 * const ragar = createRagar({ home: '.ragar' });
 * const out = await ragar.personalize({ user: 'u001', reference: '1F98A/noto' });
 * ```
 *
 * The CLI (`ragar …`), the demo and the evaluation harness are thin callers of the same
 * functions. See docs/architecture.md for the stages behind them.
 */
export { createRagar } from './api/ragar.js';
export type { PersonalizeOutcome, PersonalizeRequest, Ragar, RankRequest, ReferenceInput, RetrieveRequest } from './api/ragar.js';
export { resolveSettings } from './api/settings.js';
export type { RagarSettings, ResolvedSettings } from './api/settings.js';

// The generator engine specification (implement it to plug in an engine) and its implementations.
export { warningText } from './generation/types.js';
export type {
  GeneratedCandidateV1,
  GeneratorCallOptionsV1,
  GeneratorEngineV1,
  GeneratorHistoryItemV1,
  GeneratorPreferenceV1,
  GeneratorProgressV1,
  GeneratorResultV1,
  GeneratorWarningV1,
} from './generation/types.js';
export { createBuiltinEngine, DEFAULT_SAMPLING_STRENGTH } from './generation/builtin/engine.js';
export type { BuiltinEngineOptions } from './generation/builtin/engine.js';
export { BuiltinGenerator } from './generation/builtin/model.js';
export { MockGeneratorEngine, mockPreferenceShift } from './generation/mockEngine.js';
export type { MockGeneratorOptions } from './generation/mockEngine.js';
// The remote image-prompt engines (ComfyUI, AUTOMATIC1111), their config file and the rank-task search.
export { createComfyEngine } from './generation/comfyui/engine.js';
export type { ComfyEngineSettings } from './generation/comfyui/engine.js';
export { createA1111Engine } from './generation/a1111/engine.js';
export type { A1111EngineSettings } from './generation/a1111/engine.js';
export { ENGINE_CONFIG_FILE, loadEngineConfig, openRemoteEngine, parseEngineConfig, REMOTE_ENGINES } from './generation/engineConfig.js';
export type { EngineConfig, RemoteEngineName } from './generation/engineConfig.js';
export { RemoteGeneratorEngine, remoteMetadata } from './generation/remote/engine.js';
export type { RemoteMetadata, SentRecord, SentImage } from './generation/remote/engine.js';
export { searchForRanker } from './generation/remote/search.js';
export type { RankSearchCall, RankSearchResult, RankSearchSettings } from './generation/remote/search.js';
export { GENERATOR_VARIANTS } from './pipeline/setup.js';
export type { GeneratorVariant } from './pipeline/setup.js';

// Results and records.
export type { DatasetInfo } from './store/store.js';
export type { ItemRecord, UserRecord } from './data/access.js';
export type { UserPreference, WeightedHistoryItem } from './preference/build.js';
export type { RetrievalParams } from './retrieval/weights.js';
export type { CandidateScore } from './pipeline/personalize.js';
export type { ImageScore } from './pipeline/rank.js';
export type { PreparationSummary } from './pipeline/prepare.js';
export type { EvaluateHomeOptions, EvaluateHomeResult } from './evaluation/run.js';
export type { Progress } from './util/progress.js';

// Errors.
export { InputError, NotFoundError, RagarError } from './util/errors.js';
