// Public surface of the torch checkpoint I/O.
export { loadTorch, loadTorchSync, LoadTorchOptions } from './load';
export { saveTorch, saveTorchSync } from './save';
export { TorchTensor } from './torch-tensor';
export { TorchStorage } from './storage';
export { PyDict, PyTuple, PyFloat, PyObject, PyGlobal, PyKey, TorchSize } from './pyvalues';
export { NumpyArray, NumpyDType } from './py-globals';
