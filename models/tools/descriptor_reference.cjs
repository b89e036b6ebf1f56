// Reference descriptors for the face descriptor parity test: face-api's own forward pass
// (tfjs, CPU backend) over every raw 150x150 RGB chip in a directory; writes reference.json
// there ({"<chip>": [128 numbers]}).
//
// Setup (outside the repository):
//   npm pack @vladmandic/face-api@1.7.15 && tar xzf vladmandic-face-api-1.7.15.tgz
//   npm install @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
// Run there: node descriptor_reference.cjs <dir with *.rgb>
const fs = require('fs');
const path = require('path');
const faceapi = require(path.resolve('package/dist/face-api.node-wasm.js'));

(async () => {
  const dir = process.argv[2];
  const tf = faceapi.tf;
  await tf.setBackend('cpu');
  await tf.ready();
  const manifest = JSON.parse(fs.readFileSync('package/model/face_recognition_model-weights_manifest.json'));
  const bin = fs.readFileSync('package/model/face_recognition_model.bin');
  const weightMap = tf.io.decodeWeights(new Uint8Array(bin).buffer, manifest[0].weights);
  const net = faceapi.nets.faceRecognitionNet;
  net.loadFromWeightMap(weightMap);
  const out = {};
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.rgb')).sort()) {
    const bytes = fs.readFileSync(path.join(dir, file));
    const input = tf.tensor3d(Float32Array.from(bytes), [150, 150, 3]);
    const descriptor = await net.computeFaceDescriptor(input);
    out[file] = Array.from(descriptor);
    input.dispose();
  }
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(out, null, 1) + '\n');
  console.log(`${Object.keys(out).length} descriptors written`);
})();
