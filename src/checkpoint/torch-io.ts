// TEMPORARY: replaced by re-exports of the ptio branch's loadTorch/saveTorch when it lands.
export declare function loadTorch(path: string, opts?: { strict?: boolean }): Promise<unknown>;
export declare function saveTorch(path: string, value: unknown): Promise<void>;
