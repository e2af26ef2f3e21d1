// A modded-nanogpt file's weights under the names the engine takes (binding ModdedModel::weight_names),
// from either layout: the modded family's canonical layout, as layouts/ is the GPT family's. bfloat16
// tensors go as their raw bits (the addon widens them, without a float32 copy here), the others as float32.
//
//   embed, value_embeds.{0,1,2}                            the embeddings, as stored
//   blocks.i.attn.qkv  [3 hdim, d]                         small: attn.qkv_w; medium: qkvo_w[0:3]
//   blocks.i.attn.o    [d, hdim], applied as y @ W.T       small: attn.c_proj.weight; medium: qkvo_w[3]
//                                                          (both AS STORED: README "Why c_proj is copied")
//   blocks.i.mlp.fc, blocks.i.mlp.proj                     small: c_fc / c_proj.weight; medium: fc_w / proj_w
//   lm_head, scalars
import { toFloat32 } from '../tensor';
import type { ModdedParsed } from './modded';

export function moddedEngineWeights(p: ModdedParsed): Record<string, Float32Array | Uint16Array> {
  const { info, sd } = p;
  const f = (k: string) => {
    const t = sd.get(k)!;
    return t.dtype === 'bfloat16' ? (t.data as Uint16Array) : toFloat32(t);
  };
  const w: Record<string, Float32Array | Uint16Array> = { embed: f('embed.weight') };
  for (let j = 0; j < 3; j++) w[`value_embeds.${j}`] = f(`value_embeds.${j}.weight`);
  const hd = info.hdim * info.dim;
  for (let i = 0; i < info.n_layer; i++) {
    const b = `blocks.${i}.`;
    if (info.layout === 'small') {
      if (info.attention_layers.includes(i)) {
        w[`${b}attn.qkv`] = f(`${b}attn.qkv_w`);              // [3, hdim, d] = [3 hdim, d]
        w[`${b}attn.o`] = f(`${b}attn.c_proj.weight`);        // [d, hdim], applied as y @ W.T
      }
      w[`${b}mlp.fc`] = f(`${b}mlp.c_fc.weight`);
      w[`${b}mlp.proj`] = f(`${b}mlp.c_proj.weight`);
    } else {
      if (info.attention_layers.includes(i)) {
        const qkvo = f(`${b}attn.qkvo_w`);                     // [4, hdim, d]
        w[`${b}attn.qkv`] = qkvo.subarray(0, 3 * hd);
        w[`${b}attn.o`] = qkvo.subarray(3 * hd, 4 * hd);       // qkvo_w[3], same orientation as c_proj
      }
      w[`${b}mlp.fc`] = f(`${b}mlp.fc_w`);
      w[`${b}mlp.proj`] = f(`${b}mlp.proj_w`);
    }
  }
  w.lm_head = f(info.layout === 'small' ? 'lm_head.weight' : 'lm_head_w');
  w.scalars = f('scalars');
  return w;
}
