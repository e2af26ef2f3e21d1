// The torch .pt reader/writer the bundle uses (contracts B, src/checkpoint/torch).
export { loadTorch, saveTorch } from './torch';
