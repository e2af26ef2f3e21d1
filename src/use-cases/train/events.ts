// What a training run reports while it runs (TrainRunOptions.onProgress), in order:
//   start    once: the step it starts from, the device, the sizes of the model and of the data
//   step     after every optimizer step: its loss, learning rate, tokens and seconds
//   progress at most once a second (and after the last step): step of max_iters, loss, tokens/s, ETA — for a UI
//   eval     every eval_interval steps and at the end: the mean train and val loss
//   save     after each bundle save: the files written
//   sample   the sample at the end, piece by piece as it is generated (whole characters)
//   done     once, last
// The CLI draws these (a live bar on a terminal, plain lines elsewhere); the use case prints nothing.
export type TrainEvent =
  | { type: 'start'; step: number; max_iters: number; resumed: boolean; device: string; numParams: number; trainTokens: number; valTokens: number }
  | { type: 'step'; step: number; loss: number; lr: number; tokens: number; seconds: number }
  | { type: 'progress'; step: number; max_iters: number; loss: number; tokens_per_second: number; eta_seconds: number }
  | { type: 'eval'; step: number; train_loss: number; val_loss: number }
  | { type: 'save'; step: number; files: Array<[string, string]> }
  | { type: 'sample'; text: string }
  | { type: 'done'; step: number };
