/**
 * The display module: rich Jupyter output for everything a user holds. Importing it installs
 * the bundle builders into the hooks the core types expose (core never imports this), and it
 * exports the helpers notebooks call: `display`, `progress`, `chart`, the iteration-space
 * diagram. Tessera's `mod.ts` imports it, so users get all of this without asking.
 */
import { TesseraError } from "../error.ts";
import { Buffer, ExprBase, Var } from "../ir/expr.ts";
import { primFuncDisplayHook } from "../ir/stmt.ts";
import { DeviceArray } from "../runtime/device_array.ts";
import { timingDisplayHook } from "../runtime/timing.ts";
import { profileDisplayHook } from "../runtime/profile.ts";
import { IterVar } from "../te/tensor.ts";
import { DISPLAY, type MimeBundle } from "./bundle.ts";
import {
  bufferBundle,
  deviceArrayBundle,
  errorBundle,
  exprBundle,
  iterVarBundle,
  timingBundle,
  varBundle,
} from "./objects.ts";
import { kernelDisplayHook } from "../runtime/build.ts";
import { ndarrayDisplayHook } from "../runtime/ndarray.ts";
import { scheduleDisplayHook } from "../schedule/schedule.ts";
import { stageDisplayHook } from "../schedule/stage.ts";
import { tensorDisplayHook } from "../te/tensor.ts";
import { showStage } from "./diagram.ts";
import { kernelBundle } from "./kernel.ts";
import { scheduleBundle, stageBundle } from "./loopnest.ts";
import { ndarrayBundle } from "./ndarray.ts";
import { primFuncBundle } from "./primfunc.ts";
import { profileBundle } from "./profile.ts";
import { tensorBundle } from "./tensor.ts";
import { Graph } from "../graph/ir.ts";
import { GraphExecutable } from "../graph/build.ts";
import { executableBundle, graphBundle } from "./graph.ts";

tensorDisplayHook.bundle = tensorBundle;
scheduleDisplayHook.bundle = scheduleBundle;
stageDisplayHook.bundle = stageBundle;
stageDisplayHook.show = showStage;
primFuncDisplayHook.bundle = primFuncBundle;
kernelDisplayHook.bundle = kernelBundle;
ndarrayDisplayHook.bundle = ndarrayBundle;
timingDisplayHook.bundle = timingBundle;
profileDisplayHook.bundle = profileBundle;

// Classes with no hook of their own get the method on their prototype, from here, so that
// core files stay free of display code.
function install<T>(cls: { prototype: T }, make: (x: T) => MimeBundle): void {
  Object.defineProperty(cls.prototype, DISPLAY, {
    value(this: T) {
      return make(this);
    },
    configurable: true,
  });
}
install(ExprBase, (e) => exprBundle(e as never));
install(Var, varBundle);
install(IterVar, iterVarBundle);
install(Buffer, bufferBundle);
install(DeviceArray, deviceArrayBundle);
install(TesseraError, errorBundle);
install(Graph, graphBundle);
install(GraphExecutable, executableBundle);

export { bundleOf, Displayable, type MimeBundle } from "./bundle.ts";
export { display, type DisplayOptions } from "./display.ts";
export { chart, type VegaLiteSpec } from "./chart.ts";
export { IterationDiagram, showStage } from "./diagram.ts";
export { type IterationSpace, iterationSpace } from "./iterspace.ts";
export { type Progress, progress, type ProgressMode, type ProgressOptions } from "./progress.ts";
export { escapeHtml, h, Html } from "./html.ts";
export { inJupyter } from "./jupyter.ts";
export { graphSvg, showPartition } from "./graph.ts";
