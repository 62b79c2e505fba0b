"""Names of the files the Trainer writes beside the model; no TensorFlow here, so reports and predict.py can read them cheaply."""
import os

# In the serving model directory: labels, backbone weights and frame settings the model was trained with.
MODEL_INFO_FILE = os.path.join("assets.extra", "model_info.json")
# In the model run directory: loss and accuracy per epoch, train and eval.
HISTORY_FILE = "history.json"
