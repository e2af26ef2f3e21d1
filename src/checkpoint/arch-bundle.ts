// Bundles of models MyPT's own code cannot run (GPT-2 family: GELU, tied head, optional biases): the same
// five files as a MyPT bundle, written atomically the same way, with model.pt in nanoGPT's names and
// config.json carrying `arch` and `activation` beside MyPT's nine keys. MyPT-architecture models go
// through saveBundle (mypt-bundle.ts) unchanged.
import fs from 'fs';
import path from 'path';
import type { TokenizerJSON } from '../tokenizer/types';
import { replaceDirAtomic } from './atomic';
import { canonicalToOptimizerStateDict, canonicalToStateDict } from './layouts';
import type { AdamWHyper, CanonicalOptimizer, LayoutConfig, NamedTensors } from './layouts/common';
import { configJsonText, MyptConfigJson, tokenizerJsonText, TrainingConfigJson, trainingStateJsonText } from './mypt-json';
import { saveTorch } from './torch';

export interface ArchBundleWrite {
  config: MyptConfigJson;
  layout: LayoutConfig & { arch?: string; attn_scale?: unknown };
  params: NamedTensors;
  tokenizer: TokenizerJSON;
  step: number | null;
  trainingConfig?: TrainingConfigJson;
  optimizer?: CanonicalOptimizer;
  optimizerHyper?: Partial<AdamWHyper>;
}

/** Writes a bundle whose model.pt uses the layout canonicalToStateDict picks; returns the files written. */
export async function saveArchBundle(dir: string, b: ArchBundleWrite): Promise<string[]> {
  const files: string[] = [];
  await replaceDirAtomic(dir, async (staging) => {
    const put = (name: string, text: string) => {
      fs.writeFileSync(path.join(staging, name), text);
      files.push(path.join(dir, name));
    };
    put('config.json', configJsonText(b.config));
    put('tokenizer.json', tokenizerJsonText(b.tokenizer));
    await saveTorch(path.join(staging, 'model.pt'), canonicalToStateDict(b.params, b.layout));
    files.push(path.join(dir, 'model.pt'));
    if (b.optimizer) {
      await saveTorch(path.join(staging, 'optimizer.pt'), canonicalToOptimizerStateDict(b.optimizer, b.layout, b.optimizerHyper));
      files.push(path.join(dir, 'optimizer.pt'));
    }
    put('training_state.json', trainingStateJsonText({ step: b.step, training_config: b.trainingConfig, optimizer_file: b.optimizer ? 'optimizer.pt' : null }));
  }, { dropOld: ['optimizer.pt'] });
  return files;
}
