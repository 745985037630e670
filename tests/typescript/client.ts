// A tiny client, as a frontend team would write it against the generated types. It is only compiled
// (tsc --noEmit), never run: the compile fails when the schema stops giving the types below.
import type { components } from "./api";
import type { ModelClass } from "./classes";

type Prediction = components["schemas"]["PredictionResponse"];
type Problem = components["schemas"]["Problem"];

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// `label` and the Grad-CAM target are the model's class names, not any string.
export const labelIsAClassName: Same<Prediction["label"], ModelClass> = true;
export const targetIsAClassName: Same<NonNullable<Prediction["gradcam"]>["target"], ModelClass> = true;

export async function predict(baseUrl: string, image: Blob, apiKey?: string): Promise<Prediction> {
  const form = new FormData();
  form.append("file", image, "image.png");
  const headers: Record<string, string> = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
  const response = await fetch(`${baseUrl}/predict?gradcam=true`, { method: "POST", body: form, headers });
  if (!response.ok) {
    const problem = (await response.json()) as Problem;
    throw new Error(`${problem.title}: ${problem.detail} (request ${problem.request_id})`);
  }
  return (await response.json()) as Prediction;
}

export function describe(prediction: Prediction): string {
  const percent = (name: ModelClass): string => `${(100 * (prediction.probabilities[name] ?? 0)).toFixed(1)}%`;
  return `${prediction.label} (${percent(prediction.label)})`;
}
