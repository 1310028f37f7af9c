// hipthrust_imu: reference firmware for the hipthrust GATT profile, version 1.
//
// Board:     Seeed XIAO nRF52840 Sense (LSM6DS3TR-C on board), core "Seeed nRF52 Boards"
//            (the non-mbed core, which ships Adafruit's Bluefruit nRF52 library).
// Libraries: bluefruit.h (with the core), "Seeed Arduino LSM6DS3" (LSM6DS3.h).
// Protocol:  firmware_notes/gatt-profile.md; host decoder: sensor/decode.py.
//
// What it does: polls the IMU's data-ready bit, stamps each sample with micros(), packs up to
// 19 (gyro) or 38 (accel only) samples per notification with a uint16 seq and the uint32
// time of the first sample, and sends when the batch is full or 100 ms old. Control writes
// start, stop and reconfigure the stream; the battery level is published every 30 s.

#include <Arduino.h>
#include <bluefruit.h>
#include <LSM6DS3.h>
#include <Wire.h>

// ---------------------------------------------------------------- profile constants
// 128-bit UUIDs, written least-significant byte first as Bluefruit expects.
// 7e1a000X-5c2b-4b8e-9d0f-2f1f6b7e8a01
#define HT_UUID(x) {0x01, 0x8a, 0x7e, 0x6b, 0x1f, 0x2f, 0x0f, 0x9d, \
                    0x8e, 0x4b, 0x2b, 0x5c, (x), 0x00, 0x1a, 0x7e}
static const uint8_t UUID_SERVICE[16] = HT_UUID(0x01);
static const uint8_t UUID_IMU_DATA[16] = HT_UUID(0x02);
static const uint8_t UUID_CONTROL[16] = HT_UUID(0x03);
static const uint8_t UUID_INFO[16] = HT_UUID(0x04);

static const uint8_t PACKET_VERSION = 1;
static const uint8_t FLAG_GYRO = 0x01;
static const uint16_t HEADER_SIZE = 12;
static const uint16_t MAX_PAYLOAD = 244;   // ATT MTU 247 - 3
static const uint32_t MAX_BATCH_AGE_US = 100000;
static const uint32_t BATTERY_PERIOD_MS = 30000;

enum Command : uint8_t { CMD_START = 1, CMD_STOP = 2, CMD_CONFIGURE = 3 };

// ---------------------------------------------------------------- state
BLEService htService(UUID_SERVICE);
BLECharacteristic imuChar(UUID_IMU_DATA);
BLECharacteristic controlChar(UUID_CONTROL);
BLECharacteristic infoChar(UUID_INFO);
BLEDis bledis;
BLEBas blebas;

LSM6DS3 imu(I2C_MODE, 0x6A);

struct Config {
  uint16_t rate_dhz;        // output rate actually used, 0.1 Hz
  uint16_t odr_hz;          // LSM6DS3 ODR setting (13 means 12.5 Hz)
  uint8_t accel_fs_g;       // 2, 4, 8, 16
  uint16_t gyro_fs_dps;     // 0 (off), 125, 250, 500, 1000, 2000
};
Config config = {1040, 104, 16, 2000};  // 104 Hz, the LSM6DS3 ODR nearest to 100 Hz

volatile bool streaming = false;
volatile bool reconfigure = false;
Config pending;                          // written by the control callback
uint16_t connHandle = BLE_CONN_HANDLE_INVALID;

uint8_t packet[MAX_PAYLOAD];
uint8_t batchCount = 0;
bool batchGyro = false;
uint32_t batchT0 = 0;
uint16_t seq = 0;
uint32_t lastBatteryMs = 0;

// ---------------------------------------------------------------- helpers
static void put16(uint8_t *p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }

static int16_t toCounts(float value, float fullScale) {
  float c = roundf(value * 32768.0f / fullScale);
  if (c > 32767.0f) return 32767;
  if (c < -32768.0f) return -32768;
  return (int16_t)c;
}

// LSM6DS3 ODRs (Hz, nominal) and the protocol's rate in 0.1 Hz for each.
static const uint16_t ODR_HZ[] = {13, 26, 52, 104, 208, 416};
static const uint16_t ODR_DHZ[] = {125, 260, 520, 1040, 2080, 4160};

static void nearestOdr(uint16_t wanted_dhz, Config &c) {
  int best = 0;
  for (int i = 1; i < 6; i++) {
    if (abs((int)ODR_DHZ[i] - (int)wanted_dhz) < abs((int)ODR_DHZ[best] - (int)wanted_dhz)) best = i;
  }
  if (ODR_DHZ[best] > 4000) best = 4;   // the profile's maximum is 400 Hz: use 208 Hz
  c.odr_hz = ODR_HZ[best];
  c.rate_dhz = ODR_DHZ[best];
}

static uint16_t dt10us(const Config &c) {
  // sample interval in 10 us units: 1e6 / (rate_dhz / 10) / 10 = 1e6 / rate_dhz
  return (uint16_t)((1000000UL + c.rate_dhz / 2) / c.rate_dhz);
}

static uint16_t payloadSize() {
  uint16_t payload = MAX_PAYLOAD;
  if (connHandle != BLE_CONN_HANDLE_INVALID) {
    BLEConnection *conn = Bluefruit.Connection(connHandle);
    if (conn) payload = min<uint16_t>(MAX_PAYLOAD, conn->getMtu() - 3);
  }
  return payload;
}

// Gyro samples need 24 bytes: with the default MTU 23 (20-byte payload) only accel fits,
// so the packets go out without gyro (flag bit 0 clear) until the MTU exchange completes.
static bool gyroOn() { return config.gyro_fs_dps != 0 && payloadSize() >= HEADER_SIZE + 12; }

static uint8_t samplesPerPacket(bool gyro) {
  uint16_t n = (payloadSize() - HEADER_SIZE) / (gyro ? 12 : 6);
  return n < 1 ? 1 : n;
}

static bool applyImuConfig(const Config &c) {
  imu.settings.accelEnabled = 1;
  imu.settings.accelRange = c.accel_fs_g;
  imu.settings.accelSampleRate = c.odr_hz;
  imu.settings.accelBandWidth = 100;
  imu.settings.gyroEnabled = c.gyro_fs_dps ? 1 : 0;
  // the LSM6DS3 calls its 250 dps range "245"
  imu.settings.gyroRange = c.gyro_fs_dps == 250 ? 245 : (c.gyro_fs_dps ? c.gyro_fs_dps : 2000);
  imu.settings.gyroSampleRate = c.odr_hz;
  imu.settings.accelFifoEnabled = 0;
  imu.settings.gyroFifoEnabled = 0;
  return imu.begin() == IMU_SUCCESS;
}

static void resetBatch() { batchCount = 0; }

static void sendBatch() {
  if (batchCount == 0) return;
  const bool gyro = batchGyro;
  packet[0] = (PACKET_VERSION << 4) | (gyro ? FLAG_GYRO : 0);
  packet[1] = batchCount;
  put16(packet + 2, seq);
  put32(packet + 4, batchT0);
  put16(packet + 8, dt10us(config));
  packet[10] = config.accel_fs_g;
  packet[11] = gyro ? config.gyro_fs_dps / 125 : 0;
  uint16_t len = HEADER_SIZE + batchCount * (gyro ? 12 : 6);
  // notify() fails when the SoftDevice queue is full: keep the batch and retry shortly,
  // seq only advances for packets that actually left.
  for (int attempt = 0; attempt < 20; attempt++) {
    if (!Bluefruit.connected() || !imuChar.notifyEnabled()) { resetBatch(); return; }
    if (imuChar.notify(packet, len)) { seq++; resetBatch(); return; }
    delay(2);
  }
  resetBatch();   // link is stuck: the host will see the gap in seq
}

static void addSample(uint32_t t_us, const int16_t raw[6]) {
  // raw: gx, gy, gz, ax, ay, az as read from OUTX_L_G.. (LSM6DS3 register order)
  const bool gyro = gyroOn();
  if (batchCount > 0 && gyro != batchGyro) sendBatch();   // layout changed (MTU exchange)
  const uint16_t stride = gyro ? 12 : 6;
  if (batchCount == 0) { batchT0 = t_us; batchGyro = gyro; }
  uint8_t *p = packet + HEADER_SIZE + batchCount * stride;
  for (int axis = 0; axis < 3; axis++) {
    float g = imu.calcAccel(raw[3 + axis]);              // g, with the chip's sensitivity
    put16(p + 2 * axis, (uint16_t)toCounts(g, config.accel_fs_g));
  }
  if (gyro) {
    for (int axis = 0; axis < 3; axis++) {
      float dps = imu.calcGyro(raw[axis]);               // deg/s (70 mdps/LSB at 2000)
      put16(p + 6 + 2 * axis, (uint16_t)toCounts(dps, config.gyro_fs_dps));
    }
  }
  batchCount++;
  if (batchCount >= samplesPerPacket(gyro)) sendBatch();
}

static uint8_t batteryPercent() {
  // XIAO nRF52840: VBAT through a 1 M / 510 k divider on PIN_VBAT, enabled by VBAT_ENABLE low.
  // Rough LiPo curve: 3.3 V = 0 %, 4.2 V = 100 %, linear in between.
  analogReadResolution(12);
  uint32_t raw = 0;
  for (int i = 0; i < 8; i++) raw += analogRead(PIN_VBAT);
  float volts = (raw / 8.0f) * 3.6f / 4096.0f * (1510.0f / 510.0f);
  float pct = (volts - 3.3f) / (4.2f - 3.3f) * 100.0f;
  return (uint8_t)constrain((int)roundf(pct), 0, 100);
}

// ---------------------------------------------------------------- BLE callbacks
static void onConnect(uint16_t conn_handle) {
  connHandle = conn_handle;
  BLEConnection *conn = Bluefruit.Connection(conn_handle);
  conn->requestPHY();                 // 2M when the central supports it
  conn->requestDataLengthUpdate();    // 251-byte link-layer packets
  conn->requestMtuExchange(247);      // one 244-byte notification per packet
  conn->requestConnectionParameter(24);  // 30 ms (units of 1.25 ms)
}

static void onDisconnect(uint16_t conn_handle, uint8_t reason) {
  (void)conn_handle; (void)reason;
  connHandle = BLE_CONN_HANDLE_INVALID;
  streaming = false;
  resetBatch();
}

static void onCccd(uint16_t conn_hdl, BLECharacteristic *chr, uint16_t value) {
  (void)conn_hdl;
  if (chr->uuid == imuChar.uuid) {
    streaming = (value & BLE_GATT_HVX_NOTIFICATION) != 0;  // stream as soon as subscribed
    resetBatch();
  }
}

static bool validAccel(uint8_t g) { return g == 2 || g == 4 || g == 8 || g == 16; }
static bool validGyro(uint16_t d) {
  return d == 0 || d == 125 || d == 250 || d == 500 || d == 1000 || d == 2000;
}

static void onControl(uint16_t conn_hdl, BLECharacteristic *chr, uint8_t *data, uint16_t len) {
  (void)conn_hdl; (void)chr;
  if (len < 1) return;
  switch (data[0]) {
    case CMD_START: streaming = true; break;
    case CMD_STOP: streaming = false; break;
    case CMD_CONFIGURE: {
      if (len < 6) return;
      uint16_t rate = data[1] | (data[2] << 8);
      uint8_t accel = data[3];
      uint16_t gyro = data[4] | (data[5] << 8);
      if (rate < 125 || rate > 4000 || !validAccel(accel) || !validGyro(gyro)) return;
      pending = config;
      nearestOdr(rate, pending);
      pending.accel_fs_g = accel;
      pending.gyro_fs_dps = gyro;
      reconfigure = true;           // applied from loop(), not from the BLE task
      break;
    }
    default: break;
  }
}

// ---------------------------------------------------------------- setup / loop
void setup() {
  pinMode(VBAT_ENABLE, OUTPUT);
  digitalWrite(VBAT_ENABLE, LOW);   // keep the battery divider connected (safe while charging)

  if (!applyImuConfig(config)) {
    // No IMU: blink the red LED forever rather than advertise a silent sensor.
    pinMode(LED_RED, OUTPUT);
    for (;;) { digitalToggle(LED_RED); delay(200); }
  }

  Bluefruit.configPrphBandwidth(BANDWIDTH_MAX);   // allows MTU 247 and long packets
  Bluefruit.begin();
  Bluefruit.setTxPower(4);
  char name[20];
  uint32_t id = NRF_FICR->DEVICEADDR[0];
  snprintf(name, sizeof(name), "hipthrust-%04X", (unsigned)(id & 0xffff));
  Bluefruit.setName(name);
  Bluefruit.Periph.setConnInterval(12, 24);       // 15-30 ms
  Bluefruit.Periph.setConnectCallback(onConnect);
  Bluefruit.Periph.setDisconnectCallback(onDisconnect);

  bledis.setManufacturer("hipthrust DIY");
  bledis.setModel("XIAO nRF52840 Sense");
  bledis.setFirmwareRev("1.0.0");
  bledis.begin();

  blebas.begin();
  blebas.write(batteryPercent());

  htService.begin();

  imuChar.setProperties(CHR_PROPS_NOTIFY);
  imuChar.setPermission(SECMODE_OPEN, SECMODE_NO_ACCESS);
  imuChar.setMaxLen(MAX_PAYLOAD);
  imuChar.setCccdWriteCallback(onCccd);
  imuChar.begin();

  controlChar.setProperties(CHR_PROPS_WRITE);
  controlChar.setPermission(SECMODE_NO_ACCESS, SECMODE_OPEN);
  controlChar.setFixedLen(6);
  controlChar.setWriteCallback(onControl);
  controlChar.begin();

  infoChar.setProperties(CHR_PROPS_READ);
  infoChar.setPermission(SECMODE_OPEN, SECMODE_NO_ACCESS);
  infoChar.setFixedLen(6);
  infoChar.begin();
  uint8_t info[6] = {PACKET_VERSION, 0x01 /* gyro */, 0, 0, 16, 0};
  put16(info + 2, 4000);   // 400.0 Hz
  infoChar.write(info, sizeof(info));

  Bluefruit.Advertising.addFlags(BLE_GAP_ADV_FLAGS_LE_ONLY_GENERAL_DISC_MODE);
  Bluefruit.Advertising.addTxPower();
  Bluefruit.Advertising.addService(htService);   // 128-bit UUID: 18 of the 31 bytes
  Bluefruit.ScanResponse.addName();               // the name goes in the scan response
  Bluefruit.Advertising.restartOnDisconnect(true);
  Bluefruit.Advertising.setInterval(32, 244);     // 20 ms fast, 152.5 ms slow
  Bluefruit.Advertising.setFastTimeout(30);
  Bluefruit.Advertising.start(0);
}

void loop() {
  if (reconfigure) {
    reconfigure = false;
    sendBatch();                      // never mix two configurations in one packet
    if (applyImuConfig(pending)) config = pending;
    else applyImuConfig(config);
  }

  if (millis() - lastBatteryMs >= BATTERY_PERIOD_MS) {
    lastBatteryMs = millis();
    uint8_t pct = batteryPercent();
    if (Bluefruit.connected()) blebas.notify(pct); else blebas.write(pct);
  }

  if (!streaming) { resetBatch(); delay(5); return; }

  uint8_t status = 0;
  imu.readRegister(&status, LSM6DS3_ACC_GYRO_STATUS_REG);
  if (status & 0x01) {                // XLDA: a new accelerometer sample is ready
    uint32_t t = micros();            // stamp as close to the read as possible
    uint8_t buf[12];
    imu.readRegisterRegion(buf, LSM6DS3_ACC_GYRO_OUTX_L_G, 12);   // gyro x,y,z then accel x,y,z
    int16_t raw[6];
    for (int i = 0; i < 6; i++) raw[i] = (int16_t)(buf[2 * i] | (buf[2 * i + 1] << 8));
    addSample(t, raw);
  }
  if (batchCount && (uint32_t)(micros() - batchT0) >= MAX_BATCH_AGE_US) sendBatch();
}
