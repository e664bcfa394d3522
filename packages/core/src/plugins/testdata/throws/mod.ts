export default function () {
  throw new RangeError("the plugin failed on purpose");
}
