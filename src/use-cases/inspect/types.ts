// What `inspect` reports of a checkpoint (getModelInfo), the record its text and JSON are made from.
import type { CheckpointFormat } from '../../formats/types';
import type { ModdedInfo } from '../../formats/modded/modded';
import type { MyptConfigJson, TrainingStateJson } from '../../formats/mypt/json';

export interface ModelInfo {
  name: string;
  format: CheckpointFormat;
  location: string;
  /** Steps, vocabulary source, format records (non-bundle formats). */
  notes?: string[];
  config: MyptConfigJson;
  tokenizer: { kind: string | null; vocab_size: number | null; chars: string[] | null };
  training: {
    step: number | null; training_config: TrainingStateJson['training_config'] | null; optimizer_file: string | null;
    /** The validation loss the file records (separated / unified / modded files), when any. */
    val_loss?: number | null;
  };
  /** Trainable parameters (model.parameters(): the tril buffers are not counted; a tied head once). */
  num_params: number;
  /** The dtypes of the weight tensors, and model.pt's wrapper record when present. */
  dtypes: string[];
  checkpoint_dtype?: string;
  files: Array<{ name: string; bytes: number }>;
  /** A modded-nanogpt file's own description (layout, scalars, the forward pass, the mask). */
  modded?: ModdedInfo;
}
