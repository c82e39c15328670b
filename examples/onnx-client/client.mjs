// A midiforge model run without midiforge, in Node (onnxruntime-web has the same API in a browser).
//
//   npm install onnxruntime-node
//   node client.mjs model.onnx [tokens] [--ignore-eos]   # model.json (the export's sidecar) must lie beside it
//
// Greedy decoding of 40 tokens after a C-major prompt, masked by the contract's grammar, as
// docs/export.md describes; tests/test_onnx_client.py runs it where Node and onnxruntime-node exist.
import ort from "onnxruntime-node";
import fs from "node:fs";

const path = process.argv[2] ?? "model.onnx";
const count = Number(process.argv[3] ?? 40);
const ignoreEos = process.argv.includes("--ignore-eos");  // write `count` tokens even where the model would end
const meta = JSON.parse(fs.readFileSync(path.replace(/\.onnx$/, ".json"), "utf8"));
const id = Object.fromEntries(meta.vocab.map((t, i) => [t, i]));
const session = await ort.InferenceSession.create(path);
const fused = meta.decoder === "gqa";

const prompt = ["BOS_None", "Role_full", "Key_C_major", "Tempo_mid", "Meter_4_4"];
if (meta.grooves) prompt.push("Groove_none", "Density_medium");  // codecs with groove and density tokens
const feeds = {};
for (const c of meta.cache) {                        // an empty cache: the first call is the prompt pass
  const shape = c.shape.map((d) => (d === "batch" ? 1 : d === "length" || d === "capacity" ? 0 : d));
  feeds["past_" + c.name] = new ort.Tensor("float32", new Float32Array(0), shape);
}
let total = 0;                                       // tokens in the cache after this call
async function feed(ids) {                           // the logits of the last id fed
  total += ids.length;
  feeds.input_ids = new ort.Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
  if (fused) {
    feeds.seqlens_k = new ort.Tensor("int32", Int32Array.from([total - 1]), [1]);
    feeds.total_sequence_length = new ort.Tensor("int32", Int32Array.from([total]), []);
  }
  const out = await session.run(feeds);
  for (const c of meta.cache) feeds["past_" + c.name] = out["present_" + c.name];
  const V = meta.vocab_size;
  return out.logits.data.subarray((ids.length - 1) * V, ids.length * V);
}

let logits = await feed(prompt.map((t) => id[t]));
let last = id[prompt[prompt.length - 1]];
const tokens = [];
while (tokens.length < count && prompt.length + tokens.length < meta.context_length) {
  const allowed = meta.grammar[meta.types[last]];      // the types that may follow the last token
  let best = -1;
  for (let v = 0; v < meta.vocab_size; v++) {
    if (ignoreEos && v === meta.special_ids.eos) continue;
    if (allowed.includes(meta.types[v]) && (best < 0 || logits[v] > logits[best])) best = v;
  }
  if (meta.vocab[best] === "EOS_None") break;
  last = best;
  tokens.push(meta.vocab[best]);
  logits = await feed([best]);
}
console.log(tokens.join(" "));
