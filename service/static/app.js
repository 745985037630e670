// The web page of the chest X-ray service. Plain JavaScript, no build step, no outside request:
// everything it talks to is this server (GET /model, POST /predict).
"use strict";

(function () {
  const PREDICT_URL = "/predict?gradcam=true";
  const MODEL_URL = "/model";
  const DOWNLOAD_NAME = "gradcam-overlay.png";

  // The assessment's reason codes (ml/model/checks.py, Reason) in plain words. A code this page does not
  // know yet is shown as it is: a newer server may add codes, and the user must still see that there is one.
  const REASON_TEXT = {
    not_frontal_chest_xray: "The picture does not look like a frontal chest X-ray.",
    inverted_polarity: "The image looks inverted, like a photographic negative (bones dark, lungs light).",
    wrong_orientation: "The image looks rotated or flipped; a chest film must be upright.",
    far_from_training_data: "The image is very different from every image the model learned from.",
    blank_image: "The image is blank or almost uniform: there is nothing to read.",
    colour_image: "The image is in colour; X-rays are grey, so this is likely a photo or a drawing.",
    unusual_aspect_ratio: "The image is far wider or taller than a chest film.",
    non_radiograph_modality: "The file comes from another kind of scanner (such as CT or MRI), not an X-ray.",
    lateral_view: "The file is a side (lateral) view; the model reads frontal views only.",
    other_body_part: "The file shows another part of the body, not the chest.",
    low_confidence: "The model is not confident: no class clearly stands out.",
    atypical_for_training_data: "The image is unusual compared with the images the model learned from.",
    gate_unavailable: "This model has no input checks, so it cannot tell whether the image suits it.",
    unfamiliar_source: "The recent films from this site look unlike those of the hospitals the model was " +
      "trained on, so it is not validated for them, whatever this one image looks like.",
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    keySection: $("key-section"),
    apiKey: $("api-key"),
    dropZone: $("drop-zone"),
    fileInput: $("file-input"),
    fileName: $("file-name"),
    analyse: $("analyse-button"),
    status: $("status"),
    statusText: $("status-text"),
    progress: $("progress"),
    error: $("error"),
    errorTitle: $("error-title"),
    errorDetail: $("error-detail"),
    errorRef: $("error-ref"),
    resultSection: $("result-section"),
    resultEmpty: $("result-empty"),
    resultBody: $("result-body"),
    predicted: $("predicted-label"),
    probabilities: $("probabilities"),
    modelLine: $("model-line"),
    assessment: $("assessment"),
    scopeBanner: $("scope-banner"),
    scopeReasons: $("scope-reasons"),
    uncertainNote: $("uncertain-note"),
    uncertainReasons: $("uncertain-reasons"),
    trustedNote: $("trusted-note"),
    siteNote: $("site-note"),
    scores: $("assessment-scores"),
    resultVoid: $("result-void"),
    imagesVoid: $("images-void"),
    figures: $("figures"),
    original: $("original-image"),
    originalPlaceholder: $("original-placeholder"),
    overlayBase: $("overlay-base"),
    overlay: $("overlay-image"),
    overlayPlaceholder: $("overlay-placeholder"),
    overlayCaption: $("overlay-caption"),
    opacity: $("opacity"),
    opacityValue: $("opacity-value"),
    opacityHelp: $("opacity-help"),
    legend: $("legend"),
    download: $("download-button"),
    modelInfo: $("model-info"),
    intendedUse: $("intended-use"),
  };

  // Page memory only: the key lives in the input's value and nowhere else (no storage, no cookie).
  const state = {
    file: null,
    previewUrl: null,
    overlayUrl: null,
    overlayBlob: null,
    request: null,
  };

  // ---- helpers -------------------------------------------------------------------------------

  function authHeaders() {
    const key = el.apiKey.value.trim();
    return key ? { Authorization: "Bearer " + key } : {};
  }

  function showKeyField(focus) {
    const wasHidden = el.keySection.hidden;
    el.keySection.hidden = false;
    if (focus || wasHidden) {
      el.apiKey.focus();
    }
  }

  function setStatus(text, progress) {
    el.statusText.textContent = text;
    if (progress === undefined) {
      el.progress.hidden = true;
      el.status.classList.remove("busy");
      return;
    }
    el.progress.hidden = false;
    el.status.classList.add("busy");
    if (progress === null) {
      el.progress.removeAttribute("value"); // indeterminate
    } else {
      el.progress.value = progress;
    }
  }

  function clearError() {
    el.error.hidden = true;
    el.errorTitle.textContent = "";
    el.errorDetail.textContent = "";
    el.errorRef.textContent = "";
    el.errorRef.hidden = true;
  }

  function showError(title, detail, requestId) {
    el.errorTitle.textContent = title;
    el.errorDetail.textContent = detail || "";
    el.errorRef.textContent = requestId ? "Reference for support: " + requestId : "";
    el.errorRef.hidden = !requestId;
    el.error.hidden = false;
  }

  // An error answer of the API is application/problem+json {type, title, status, detail, request_id}.
  // Anything else (a proxy's HTML page, an empty body) still gets a readable message.
  function problemFrom(status, statusText, bodyText) {
    let problem = null;
    try {
      problem = JSON.parse(bodyText);
    } catch (_err) {
      problem = null;
    }
    if (problem && typeof problem === "object") {
      const title = problem.title || "Error " + status;
      let detail = typeof problem.detail === "string" ? problem.detail : "";
      if (!detail && problem.detail !== undefined) {
        detail = JSON.stringify(problem.detail);
      }
      return {
        title: title + " (HTTP " + status + ")",
        detail: detail,
        requestId: typeof problem.request_id === "string" ? problem.request_id : "",
      };
    }
    return {
      title: "Error (HTTP " + status + (statusText ? " " + statusText : "") + ")",
      detail: "The server did not give a reason.",
      requestId: "",
    };
  }

  function base64ToBlob(b64, type) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i += 1) {
      bytes[i] = bin.charCodeAt(i);
    }
    return new Blob([bytes], { type: type });
  }

  // Percentages with one decimal that add up to exactly 100.0 (largest remainder), so the bars agree
  // with each other however the rounding falls.
  function percentages(values) {
    const total = values.reduce((a, b) => a + b, 0) || 1;
    const tenths = values.map((v) => (v / total) * 1000);
    const floors = tenths.map(Math.floor);
    let left = 1000 - floors.reduce((a, b) => a + b, 0);
    const order = tenths
      .map((t, i) => ({ i: i, r: t - Math.floor(t) }))
      .sort((a, b) => b.r - a.r);
    for (let k = 0; k < order.length && left > 0; k += 1, left -= 1) {
      floors[order[k].i] += 1;
    }
    return floors.map((t) => t / 10);
  }

  function reasonText(code) {
    return Object.prototype.hasOwnProperty.call(REASON_TEXT, code) ? REASON_TEXT[code] : String(code);
  }

  // What a file is, from its first bytes, as the server tells (ml/decoding): its name and the type the
  // browser guesses from the name decide nothing.
  function sniffKind(file) {
    return file.slice(0, 132).arrayBuffer().then(
      (buffer) => {
        const bytes = new Uint8Array(buffer);
        const startsWith = (magic, at) => magic.every((value, i) => bytes[at + i] === value);
        if (startsWith([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0)) return "png";
        if (startsWith([0xff, 0xd8, 0xff], 0)) return "jpeg";
        if (startsWith([0x44, 0x49, 0x43, 0x4d], 128)) return "dicom"; // "DICM" after the preamble
        return "other";
      },
      () => "other"
    );
  }

  function formatSize(bytes) {
    if (bytes < 1024) {
      return bytes + (bytes === 1 ? " byte" : " bytes");
    }
    if (bytes < 1024 * 1024) {
      return Math.round(bytes / 1024) + " KB";
    }
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function revoke(url) {
    if (url) {
      URL.revokeObjectURL(url);
    }
  }

  // ---- model information ---------------------------------------------------------------------

  function loadModel() {
    fetch(MODEL_URL, { headers: authHeaders(), cache: "no-store" })
      .then((response) =>
        response.text().then((text) => ({ response: response, text: text }))
      )
      .then(({ response, text }) => {
        if (response.status === 401) {
          el.keySection.hidden = false;
          el.modelInfo.textContent = "This server requires an API key: enter it above to see the model's details.";
          el.intendedUse.textContent = "";
          return;
        }
        if (!response.ok) {
          const p = problemFrom(response.status, response.statusText, text);
          el.modelInfo.textContent = "Model information is not available: " + (p.detail || p.title);
          return;
        }
        renderModel(JSON.parse(text));
      })
      .catch(() => {
        el.modelInfo.textContent = "Model information is not available: the server could not be reached.";
      });
  }

  function renderModel(info) {
    const parts = [];
    if (info.name) parts.push("Model " + info.name);
    if (info.version) parts.push("version " + info.version);
    if (Array.isArray(info.classes) && info.classes.length) {
      parts.push("classes: " + info.classes.join(", "));
    }
    el.modelInfo.textContent = parts.length ? parts.join(" · ") + "." : "Model loaded.";
    const use = info.intended_use;
    if (typeof use === "string") {
      el.intendedUse.textContent = "Intended use: " + use;
    } else if (use && typeof use === "object") {
      const text = use.summary || use.description || use.statement || "";
      el.intendedUse.textContent = text ? "Intended use: " + text : "";
    } else {
      el.intendedUse.textContent = "";
    }
  }

  // ---- choosing a file -----------------------------------------------------------------------

  function resetAssessment() {
    el.assessment.hidden = true;
    el.scopeBanner.hidden = true;
    el.uncertainNote.hidden = true;
    el.trustedNote.hidden = true;
    el.siteNote.hidden = true;
    el.siteNote.textContent = "";
    el.siteNote.classList.remove("unfamiliar");
    el.scores.hidden = true;
    el.scopeReasons.textContent = "";
    el.uncertainReasons.textContent = "";
    el.scores.textContent = "";
    el.resultVoid.hidden = true;
    el.imagesVoid.hidden = true;
    el.resultBody.classList.remove("out-of-scope");
    el.figures.classList.remove("out-of-scope");
  }

  function resetResult() {
    resetAssessment();
    el.resultBody.hidden = true;
    el.resultEmpty.hidden = false;
    el.resultEmpty.textContent = "The prediction will appear here.";
    el.probabilities.textContent = "";
    el.predicted.textContent = "";
    el.modelLine.textContent = "";
    revoke(state.overlayUrl);
    state.overlayUrl = null;
    state.overlayBlob = null;
    el.overlay.hidden = true;
    el.overlay.removeAttribute("src");
    el.overlayBase.hidden = true;
    el.overlayBase.removeAttribute("src");
    el.overlayPlaceholder.hidden = false;
    el.overlayPlaceholder.textContent = "The Grad-CAM overlay will appear here.";
    el.overlayCaption.textContent = "Grad-CAM overlay";
    el.opacity.disabled = true;
    el.opacityHelp.textContent = "Fades the heat map in and out over the original image.";
    el.legend.hidden = true;
    el.download.disabled = true;
  }

  // Resolves once the Original panel knows what to show, so that the result, when it comes, finds the
  // preview (or its absence) settled.
  function showPreview(file) {
    revoke(state.previewUrl);
    state.previewUrl = null;
    el.original.hidden = true;
    el.original.removeAttribute("src");
    el.originalPlaceholder.hidden = false;
    el.originalPlaceholder.textContent = "Reading the file…";
    return sniffKind(file).then((kind) => {
      if (state.file !== file) {
        return;
      }
      if (kind === "dicom") {
        el.originalPlaceholder.textContent =
          "Browsers cannot display DICOM files. The Grad-CAM panel shows the image as the server read it.";
        return;
      }
      if (kind === "other") {
        el.originalPlaceholder.textContent = "This file is not a PNG, JPEG or DICOM image: there is nothing to show.";
        return;
      }
      state.previewUrl = URL.createObjectURL(file);
      el.original.onload = () => {
        el.original.hidden = false;
        el.originalPlaceholder.hidden = true;
      };
      el.original.onerror = () => {
        el.original.hidden = true;
        el.originalPlaceholder.hidden = false;
        el.originalPlaceholder.textContent = "The browser cannot display this file.";
      };
      el.original.src = state.previewUrl;
    });
  }

  function chooseFile(file) {
    if (!file) {
      return;
    }
    state.file = file;
    el.fileName.textContent = "Chosen: " + file.name + " (" + formatSize(file.size) + ")";
    el.fileName.hidden = false;
    el.analyse.disabled = false;
    clearError();
    resetResult();
    showPreview(file).then(() => {
      if (state.file === file) {
        analyse();
      }
    });
  }

  // ---- prediction ----------------------------------------------------------------------------

  function analyse() {
    if (!state.file) {
      return;
    }
    if (state.request) {
      state.request.abort();
    }
    clearError();
    resetResult();
    el.analyse.disabled = true;
    el.resultSection.setAttribute("aria-busy", "true");
    el.resultEmpty.textContent = "Waiting for the server's answer…";
    setStatus("Uploading " + state.file.name + "…", 0);

    const form = new FormData();
    form.append("file", state.file, state.file.name);
    const xhr = new XMLHttpRequest();
    state.request = xhr;
    xhr.open("POST", PREDICT_URL);
    const headers = authHeaders();
    Object.keys(headers).forEach((name) => xhr.setRequestHeader(name, headers[name]));
    xhr.setRequestHeader("Accept", "application/json, application/problem+json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) {
        setStatus("Uploading… " + Math.round((event.loaded / event.total) * 100) + "%",
          Math.round((event.loaded / event.total) * 100));
      }
    };
    xhr.upload.onload = () => setStatus("Analysing the image…", null);
    const finish = () => {
      if (state.request === xhr) {
        state.request = null;
      }
      el.analyse.disabled = !state.file;
      el.resultSection.removeAttribute("aria-busy");
    };
    xhr.onload = () => {
      if (state.request !== xhr) {
        return; // superseded by a newer file
      }
      finish();
      if (xhr.status === 200) {
        let data = null;
        try {
          data = JSON.parse(xhr.responseText);
        } catch (_err) {
          data = null;
        }
        if (!data || typeof data.probabilities !== "object") {
          setStatus("Analysis failed.");
          showError("Unexpected answer from the server", "The response could not be read.");
          return;
        }
        renderResult(data);
        return;
      }
      const p = problemFrom(xhr.status, xhr.statusText, xhr.responseText);
      const retryAfter = Number(xhr.getResponseHeader("Retry-After"));
      const detail = retryAfter > 0
        ? p.detail + (p.detail ? " " : "") + "Try again in " + retryAfter + " s."
        : p.detail;
      setStatus("Analysis failed.");
      el.resultEmpty.textContent = "No result: see the error message.";
      showError(p.title, detail, p.requestId);
      if (xhr.status === 401) {
        showKeyField(true);
      }
    };
    xhr.onerror = () => {
      if (state.request !== xhr) {
        return;
      }
      finish();
      setStatus("Analysis failed.");
      showError("The server could not be reached", "Check the network connection and try again.");
    };
    xhr.send(form);
  }

  function renderResult(data) {
    const names = Object.keys(data.probabilities);
    const values = names.map((n) => Number(data.probabilities[n]) || 0);
    const pct = percentages(values);
    el.probabilities.textContent = "";
    names.forEach((name, i) => {
      const li = document.createElement("li");
      li.className = "prob";
      if (name === data.label) {
        li.classList.add("prob-top");
      }
      li.dataset.className = name;
      li.dataset.percent = pct[i].toFixed(1);

      const label = document.createElement("span");
      label.className = "prob-label";
      label.textContent = name;
      const bar = document.createElement("span");
      bar.className = "prob-bar";
      bar.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.className = "prob-fill";
      fill.style.width = pct[i] + "%";
      bar.appendChild(fill);
      const value = document.createElement("span");
      value.className = "prob-value";
      value.textContent = pct[i].toFixed(1) + "%";

      li.append(label, bar, value);
      el.probabilities.appendChild(li);
    });
    el.predicted.textContent = data.label;
    if (data.model) {
      const sha = data.model.sha256 ? " · weights " + String(data.model.sha256).slice(0, 12) : "";
      el.modelLine.textContent =
        "Model " + (data.model.name || "") + " " + (data.model.version || "") + sha +
        (data.request_id ? " · request " + data.request_id : "");
    }
    el.resultEmpty.hidden = true;
    el.resultBody.hidden = false;

    const top = pct[names.indexOf(data.label)];
    const verdict = renderAssessment(data.assessment);
    const summary = verdict === "out-of-scope"
      ? "Analysis complete, but this does not look like a frontal chest X-ray: do not use the result."
      : "Analysis complete. Predicted class: " + data.label +
        (top !== undefined ? " (" + top.toFixed(1) + "%)." : ".") +
        (verdict === "uncertain" ? " Uncertain: this answer must not stand alone." : "");
    renderOverlay(data.gradcam);
    setStatus(summary + (data.gradcam ? "" : " No Grad-CAM overlay was returned."));
  }

  function fillReasons(list, reasons) {
    list.textContent = "";
    reasons.forEach((code) => {
      const li = document.createElement("li");
      li.textContent = reasonText(code);
      li.dataset.reason = String(code);
      list.appendChild(li);
    });
  }

  function formatScore(name, value) {
    // Typicality is a share of validation images (about 0.5 is typical), not a probability of anything.
    return name === "typicality" ? value.toFixed(2) : (value * 100).toFixed(1) + "%";
  }

  function renderScores(scores) {
    el.scores.textContent = "";
    const shown = [
      ["chest_xray", "Chest X-ray likelihood"],
      ["typicality", "Typicality"],
      ["confidence", "Confidence"],
    ].filter(([key]) => scores && typeof scores[key] === "number" && isFinite(scores[key]));
    shown.forEach(([key, title]) => {
      const item = document.createElement("div");
      item.dataset.score = key;
      const dt = document.createElement("dt");
      dt.textContent = title;
      const dd = document.createElement("dd");
      dd.textContent = formatScore(key, scores[key]);
      item.append(dt, dd);
      el.scores.appendChild(item);
    });
    el.scores.hidden = shown.length === 0;
  }

  // The source-shift monitor's view of the site this page's answers are counted for, in words.
  function renderSite(site) {
    if (!site || typeof site !== "object" || typeof site.name !== "string") {
      return;
    }
    const name = "\u201c" + site.name + "\u201d";
    let text;
    if (site.unfamiliar) {
      text = "Unfamiliar source: the recent films from site " + name + " look unlike those of the " +
        "hospitals the model was trained on. Every answer for this site is marked uncertain until they " +
        "look familiar again; the model has not been validated for these films.";
    } else if (typeof site.statistic !== "number") {
      text = "Site " + name + ": " + site.answers + " of " + site.window + " films seen. The service " +
        "judges whether a site's films look like the training hospitals' once it has seen " + site.window + ".";
    } else {
      text = "Site " + name + ": its last " + site.window + " films look like those of the hospitals " +
        "the model was trained on.";
    }
    el.siteNote.textContent = text;
    el.siteNote.classList.toggle("unfamiliar", Boolean(site.unfamiliar));
    el.siteNote.hidden = false;
  }

  // Returns "out-of-scope", "uncertain", "trusted", or "" when the server sent no assessment.
  function renderAssessment(assessment) {
    resetAssessment();
    if (!assessment || typeof assessment !== "object") {
      return "";
    }
    const reasons = Array.isArray(assessment.reasons) ? assessment.reasons : [];
    renderScores(assessment.scores);
    renderSite(assessment.site);
    el.assessment.hidden = false;
    if (assessment.in_scope === false) {
      fillReasons(el.scopeReasons, reasons.length ? reasons : ["not_frontal_chest_xray"]);
      el.scopeBanner.hidden = false;
      el.resultVoid.hidden = false;
      el.imagesVoid.hidden = false;
      el.resultBody.classList.add("out-of-scope");
      el.figures.classList.add("out-of-scope");
      return "out-of-scope";
    }
    if (assessment.uncertain) {
      fillReasons(el.uncertainReasons, reasons);
      el.uncertainReasons.hidden = reasons.length === 0;
      el.uncertainNote.hidden = false;
      return "uncertain";
    }
    el.trustedNote.hidden = false;
    return "trusted";
  }

  function renderOverlay(gradcam) {
    if (!gradcam || !gradcam.overlay_png_base64) {
      el.overlayPlaceholder.textContent = "The server returned no Grad-CAM overlay for this image.";
      return;
    }
    state.overlayBlob = base64ToBlob(gradcam.overlay_png_base64, "image/png");
    state.overlayUrl = URL.createObjectURL(state.overlayBlob);
    if (gradcam.width && gradcam.height) {
      el.overlay.width = gradcam.width;
      el.overlay.height = gradcam.height;
      document.querySelectorAll(".frame").forEach((frame) => {
        frame.style.aspectRatio = gradcam.width + " / " + gradcam.height;
      });
    }
    el.overlay.src = state.overlayUrl;
    el.overlay.hidden = false;
    // Under the overlay: the original, so that the opacity control fades between the two. Without a
    // browser-viewable original (DICOM) there is nothing to fade to, so the control stays off.
    if (state.previewUrl) {
      el.overlayBase.src = state.previewUrl;
      el.overlayBase.hidden = false;
      el.opacity.disabled = false;
    } else {
      el.opacity.value = "100";
      el.opacity.disabled = true;
      el.opacityHelp.textContent =
        "Opacity is available for PNG and JPEG uploads; the browser cannot show this file's original.";
    }
    el.overlayPlaceholder.hidden = true;
    el.legend.hidden = false;
    el.overlayCaption.textContent = gradcam.target
      ? "Grad-CAM overlay for the class " + gradcam.target
      : "Grad-CAM overlay";
    el.overlay.alt = "Grad-CAM heat map for the class " + (gradcam.target || "predicted") + " over the image";
    applyOpacity();
    el.download.disabled = false;
  }

  function applyOpacity() {
    const value = Number(el.opacity.value);
    el.overlay.style.opacity = String(value / 100);
    el.opacityValue.textContent = value + "%";
    el.opacity.setAttribute("aria-valuetext", value + "% overlay opacity");
  }

  function downloadOverlay() {
    if (!state.overlayBlob) {
      return;
    }
    const link = document.createElement("a");
    link.href = state.overlayUrl;
    link.download = DOWNLOAD_NAME;
    link.rel = "noopener";
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  // ---- wiring ----------------------------------------------------------------------------------

  el.fileInput.addEventListener("change", () => {
    chooseFile(el.fileInput.files && el.fileInput.files[0]);
    el.fileInput.value = ""; // choosing the same file again analyses it again
  });
  el.analyse.addEventListener("click", analyse);
  el.opacity.addEventListener("input", applyOpacity);
  el.download.addEventListener("click", downloadOverlay);
  el.apiKey.addEventListener("change", loadModel);
  el.apiKey.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      loadModel();
      if (state.file) {
        analyse();
      }
    }
  });

  // Keyboard: Space opens the picker natively; Enter does too, as on the page's other buttons.
  el.fileInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      el.fileInput.click();
    }
  });
  // A click anywhere on the drop zone's free area opens the file picker as well.
  el.dropZone.addEventListener("click", (event) => {
    if (event.target === el.dropZone) {
      el.fileInput.click();
    }
  });

  let dragDepth = 0;
  el.dropZone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    dragDepth += 1;
    el.dropZone.classList.add("dragging");
  });
  el.dropZone.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) {
      el.dropZone.classList.remove("dragging");
    }
  });
  el.dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) {
      event.dataTransfer.dropEffect = "copy";
    }
  });
  el.dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dragDepth = 0;
    el.dropZone.classList.remove("dragging");
    const files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) {
      chooseFile(files[0]);
    }
  });
  // A file dropped next to the zone must not make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  loadModel();
})();
