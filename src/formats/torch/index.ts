// PyTorch checkpoint I/O in TypeScript (no Python, nothing from the file ever executed).
//
//   loadTorch(path, { strict?, keepFloatType? }) / loadTorchSync   torch.save files: zip (any top folder,
//       stored or deflated entries, zip64) and the legacy pre-1.6 stream. Tensors are TorchTensor:
//       metadata at once, `.data` read from the file on first access (contiguous; views materialised).
//   saveTorch(path, value) / saveTorchSync                           zip that torch.load(weights_only=True)
//       accepts (PyTorch 2.x always; 1.13 unless the value holds Python floats: 1.13's weights_only
//       unpickler lacks BINFLOAT, as for files torch.save itself writes). Temp file + fsync + rename.
//   Python values: dict/OrderedDict -> PyDict (.ordered, ._metadata), tuple -> PyTuple, torch.Size ->
//       TorchSize, list -> Array, int -> number | bigint, float -> number (PyFloat to force a float),
//       None -> null, bytes -> Uint8Array, set -> Set, numpy -> NumpyArray / number, other -> PyObject.
//   Errors: MyptError('E_BAD_FILE', '<path>: <problem>') for any malformed input.
export { loadTorch, loadTorchSync, LoadTorchOptions } from './load';
export { saveTorch, saveTorchSync } from './save';
export { TorchTensor } from './torch-tensor';
export { TorchStorage } from './storage';
export { PyDict, PyTuple, PyFloat, PyObject, PyGlobal, PyKey, TorchSize } from './pyvalues';
export { NumpyArray, NumpyDType } from './numpy';
