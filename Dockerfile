FROM python:3.11-slim
WORKDIR /app
ENV LITELLM_LOCAL_MODEL_COST_MAP=True PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install --no-cache-dir .
RUN useradd --create-home policybot
USER policybot
CMD ["policybot", "--help"]
