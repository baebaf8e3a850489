import { Command } from 'commander';
import { DatasetView } from '../../data/access.js';
import { evaluateEmojiRetrieval, evaluateRatingRetrieval } from '../../retrieval/evaluate.js';
import { buildPreferenceFromIndex } from '../../preference/build.js';
import { ANN_MIN_ITEMS, indexDatasetVectors } from '../../retrieval/search.js';
import { summarizePreference } from '../../preference/summarizer.js';
import { defaultRetrievalFor, saveTunedFromEvaluation } from '../../retrieval/tuned.js';
import { loadDatasetVectors } from '../../retrieval/vectors.js';
import { parseK, parseTau, type RetrievalParams } from '../../retrieval/weights.js';
import { RagarError } from '../../util/errors.js';
import { withStore } from '../context.js';
import { intOption, numberOption } from '../options.js';

function fmt(x: number | null, digits = 3): string {
  return x === null ? '   -  ' : x.toFixed(digits);
}

/** `ragar retrieve`: RAGAR steps 1–2 for one user and reference, and `retrieve evaluate`. */
export function retrieveCommand(): Command {
  const retrieve = new Command('retrieve')
    .description(
      "weight a user's history by similarity to a reference item (RAGAR step 1) and build the preference (step 2): " +
        'prints every history item with its similarities and weight, the keyword preference and visual statistics',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option('--user <id>', 'user (external id)')
    .option('--reference <item>', 'reference item (external id)')
    .option('--weights <mode>', 'retrieval | uniform (equal pooling, the PMG/Pigeon baseline)', 'retrieval')
    .option('--alpha <a>', 'image vs text similarity weight in [0, 1] (default: validation-tuned, else 0.5)', numberOption(0, 1))
    .option('--k <n>', 'history items kept: integer or "all" (default: validation-tuned, else 10)')
    .option('--tau <t>', 'softmax temperature: number or "inf" (default: validation-tuned, else 0.05)')
    .option('--keywords <m>', 'keywords in the preference', intOption(1), 8)
    .option('--image-encoder <name>', 'image embeddings to use (encoder name or model id)', 'mobilenet')
    .option('--text-encoder <name>', 'text embeddings to use (encoder name or model id)', 'use')
    .option('--index <kind>', `vector index the similarities are asked of: auto (usearch HNSW from ${ANN_MIN_ITEMS.toLocaleString('en')} items, else exact) | exact | ann`, 'auto')
    .option('--similar <n>', "also list the reference's n nearest catalog items (image, else text embeddings) from the index", intOption(0), 0)
    .option('--summarize', 'summarise the keyword preference with an LLM (OpenAI-compatible chat endpoint)')
    .option('--llm-url <url>', 'base URL of the chat endpoint, e.g. http://127.0.0.1:8000/v1 (or $RAGAR_LLM_URL)')
    .option('--llm-model <name>', 'model name for the endpoint (or $RAGAR_LLM_MODEL)')
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        if (!opts.user || !opts.reference) throw new RagarError('retrieve needs --user and --reference (or use `ragar retrieve evaluate`)', 'BAD_INPUT');
        if (opts.weights !== 'retrieval' && opts.weights !== 'uniform') throw new RagarError(`--weights must be retrieval or uniform, got ${opts.weights}`, 'BAD_INPUT');
        const view = DatasetView.open(ctx.store, opts.dataset);
        const vectors = loadDatasetVectors(view, { image: opts.imageEncoder, text: opts.textEncoder, optionalImage: true });
        const defaults = defaultRetrievalFor(ctx.store.home, opts.dataset);
        const params: RetrievalParams = {
          alpha: opts.alpha ?? defaults.params.alpha,
          k: opts.k !== undefined ? parseK(opts.k) : defaults.params.k,
          tau: opts.tau !== undefined ? parseTau(opts.tau) : defaults.params.tau,
        };
        const indexes = await indexDatasetVectors(vectors, opts.index);
        const pref = await buildPreferenceFromIndex(view, vectors, indexes, opts.user, opts.reference, params, { weighting: opts.weights, keywords: opts.keywords });
        let similar: { item: string; title: string; style: string | null; score: number }[] | undefined;
        if (opts.similar > 0) {
          const refItem = view.item(opts.reference);
          const [index, query] = indexes.image && vectors.image.get(refItem.id) ? [indexes.image, vectors.image.get(refItem.id)!] : [indexes.text, vectors.text.get(refItem.id)];
          if (index && query) {
            const hits = await index.search(query, opts.similar + 1, { filter: (id) => id !== String(refItem.id) });
            similar = hits.slice(0, opts.similar).map((h) => {
              const it = view.item(Number(h.id));
              return { item: it.externalId, title: it.title, style: it.style, score: h.score };
            });
          }
        }
        let summary: Awaited<ReturnType<typeof summarizePreference>> | undefined;
        if (opts.summarize) {
          const baseUrl = opts.llmUrl ?? process.env.RAGAR_LLM_URL;
          const model = opts.llmModel ?? process.env.RAGAR_LLM_MODEL;
          if (!baseUrl || !model) throw new RagarError('--summarize needs --llm-url and --llm-model (or RAGAR_LLM_URL / RAGAR_LLM_MODEL)', 'BAD_INPUT');
          summary = await summarizePreference(
            { keywords: pref.keywords, referenceText: pref.reference.title },
            { baseUrl, model, apiKey: process.env.RAGAR_LLM_API_KEY },
          );
          if (summary.warning) ctx.note(`warning: ${summary.warning}`);
        }
        const json = {
          ...pref,
          params: { alpha: pref.params.alpha, k: pref.params.k ?? 'all', tau: Number.isFinite(pref.params.tau) ? pref.params.tau : 'inf' },
          paramsSource: [opts.alpha, opts.k, opts.tau].some((v) => v !== undefined) ? 'command line' : defaults.source,
          visual: pref.visual && {
            dimension: pref.visual.vector.length,
            effectiveCount: pref.visual.effectiveCount,
            meanVariance: pref.visual.variance.reduce((s, x) => s + x, 0) / pref.visual.variance.length,
            vector: Array.from(pref.visual.vector),
          },
          models: { image: vectors.imageModel, text: vectors.textModel },
          index: indexes.kind,
          ...(similar ? { similar } : {}),
          summary,
        };
        ctx.emit(json, () => {
          const lines = [
            `user ${pref.user}, reference ${pref.reference.item} "${pref.reference.title}" (${pref.reference.group ?? '-'}, ${pref.reference.style ?? '-'})`,
            `weights: ${pref.weighting}  alpha ${json.params.alpha}  k ${json.params.k}  tau ${json.params.tau}  (${json.paramsSource})`,
            `   #  weight  sim    img    text   item                 style        group / title`,
          ];
          pref.history.forEach((h, i) => {
            lines.push(
              `${String(i + 1).padStart(4)}  ${h.weight.toFixed(3)}  ${fmt(h.similarity)}  ${fmt(h.imageSimilarity)}  ${fmt(h.textSimilarity)}  ${h.item.padEnd(20).slice(0, 20)} ${(h.style ?? '-').padEnd(12)} ${h.group ?? ''} / ${h.title}${h.rating !== null ? ` (rated ${h.rating})` : ''}`,
            );
          });
          lines.push(`keyword preference: ${pref.keywords.map((k) => `${k.keyword} (${k.score.toFixed(2)})`).join(', ')}`);
          if (pref.visual) lines.push(`visual preference: ${pref.visual.vector.length}-d, effective history size ${pref.visual.effectiveCount.toFixed(1)}`);
          if (similar) {
            lines.push(`nearest catalog items (${indexes.kind} index):`);
            for (const h of similar) lines.push(`  ${h.score.toFixed(3)}  ${h.item.padEnd(20).slice(0, 20)} ${(h.style ?? '-').padEnd(12)} ${h.title}`);
          }
          if (summary) lines.push(`summary (${summary.source}): ${summary.text}`);
          return lines.join('\n');
        });
      }),
    );

  retrieve
    .command('evaluate')
    .description(
      'evidence for retrieval weighting: emoji-styles → how often the dominant style of the weighted history is the user\'s true taste ' +
        'for the reference\'s group (retrieval vs equal pooling); rated datasets (MovieLens) → RMSE/MAE of predicting held-out ratings from ' +
        'the similarity-weighted vs equally-weighted history. α, k, τ are tuned on the valid split and saved as the dataset\'s retrieval defaults.',
    )
    // --dataset and the encoder options are shared with `retrieve` (defaults there), so read the merged options.
    .option('--dataset <name>', 'dataset (default: emoji-styles)')
    .option('--split <name>', 'split to report (tuning always uses valid)', 'test')
    .option('--holdout <n>', 'rated datasets: latest interactions per user to predict', intOption(1), 5)
    .option('--image-encoder <name>', 'image embeddings to use (default: mobilenet)')
    .option('--text-encoder <name>', 'text embeddings to use (default: use)')
    .option('--no-save', 'do not save the tuned settings as the dataset defaults')
    .action(async (_opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const opts = cmd.optsWithGlobals();
        if (opts.split === 'valid') ctx.note('note: reporting on valid, the split the settings are tuned on (optimistic)');
        const view = DatasetView.open(ctx.store, opts.dataset);
        const rated = view.hasRatings();
        const models = { image: opts.imageEncoder, text: opts.textEncoder };
        if (view.dataset.kind === 'emoji-styles' || !rated) {
          const vectors = loadDatasetVectors(view, models);
          const result = { ...evaluateEmojiRetrieval(view, vectors, opts.split), models: { image: vectors.imageModel, text: vectors.textModel } };
          if (opts.save) {
            saveTunedFromEvaluation(ctx.store.home, view.dataset.name, result.retrieval.params, 'styleMatch', result.retrieval.validStyleMatch, vectors);
          }
          const p = (x: number) => `${(100 * x).toFixed(1)}%`;
          ctx.emit(result, () =>
            [
              `${result.dataset} ${result.split}: ${result.retrieval.tasks} tasks; settings tuned on valid (${result.tuning.tasks} tasks, ${result.tuning.settings} settings)`,
              `  style match, weighted-dominant style = user's taste for the reference's group:`,
              `    retrieval   ${p(result.retrieval.styleMatch)}   (top-1 item ${p(result.retrieval.top1StyleMatch)})  alpha ${result.retrieval.params.alpha} k ${result.retrieval.params.k} tau ${result.retrieval.params.tau}`,
              `    text only   ${p(result.textOnly.styleMatch)}   (top-1 item ${p(result.textOnly.top1StyleMatch)})  alpha 0 k ${result.textOnly.params.k} tau ${result.textOnly.params.tau}`,
              `    image only  ${p(result.imageOnly.styleMatch)}   (top-1 item ${p(result.imageOnly.top1StyleMatch)})  alpha 1 k ${result.imageOnly.params.k} tau ${result.imageOnly.params.tau}`,
              `    uniform     ${p(result.uniform.styleMatch)}   (equal pooling over the whole history)`,
            ].join('\n'),
          );
        } else {
          const vectors = loadDatasetVectors(view, { ...models, optionalImage: true });
          const result = { ...evaluateRatingRetrieval(view, vectors, opts.split, opts.holdout), models: { image: vectors.imageModel, text: vectors.textModel } };
          if (opts.save) {
            saveTunedFromEvaluation(ctx.store.home, view.dataset.name, result.retrieval.params, 'rmse', result.retrieval.validRmse, vectors);
          }
          ctx.emit(result, () =>
            [
              `${result.dataset} ${result.split}: ${result.retrieval.predictions} held-out ratings (latest ${result.holdoutPerUser} per user, ${result.modalities} similarity); tuned on valid (${result.tuning.predictions} ratings)`,
              `    retrieval  RMSE ${result.retrieval.rmse.toFixed(4)}  MAE ${result.retrieval.mae.toFixed(4)}  k ${result.retrieval.params.k} tau ${result.retrieval.params.tau}`,
              `    uniform    RMSE ${result.uniform.rmse.toFixed(4)}  MAE ${result.uniform.mae.toFixed(4)}  (user's mean rating so far)`,
            ].join('\n'),
          );
        }
      }),
    );
  return retrieve;
}
