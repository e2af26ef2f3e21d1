// The relative error every numeric test uses: ||ours - ref|| / ||ref|| (NaN when ours holds a non-finite
// value, so a NaN never passes a `<=` check).
function relErr(ours, ref) {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(ours[i])) return NaN;
    num += (ours[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

module.exports = { relErr };
